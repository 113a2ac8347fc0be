package mm

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vmspace/vmspace/internal/frames"
	"github.com/vmspace/vmspace/internal/pagetable"
	"github.com/vmspace/vmspace/internal/spacelock"
	"github.com/vmspace/vmspace/internal/tree"
)

const (
	pageShift = 12
	// PageSize is the size of a page: 4 KiB, as on x86-64.
	PageSize = 1 << pageShift
	pageMask = PageSize - 1
	// defaultStackGuardGap is the gap kept free below a growsdown area
	// unless Config says otherwise (stack_guard_gap: 256 pages).
	defaultStackGuardGap = 256 << pageShift
)

// LockMode selects how faults lock the space.
type LockMode uint8

const (
	// PerArea: faults find their area without locks and read-lock only
	// it (Linux since 6.4). The default.
	PerArea LockMode = iota
	// WholeSpace: every fault takes the space lock for reading, as
	// gVisor's mm and kernels without per-VMA locks do.
	WholeSpace
)

func (m LockMode) String() string {
	if m == WholeSpace {
		return "whole-space"
	}
	return "per-area"
}

// Config describes a space.
type Config struct {
	// Base and End bound the user range [Base, End). Base plays the
	// part of mmap_min_addr and End of TASK_SIZE.
	Base, End uint64
	// MmapBase is where top-down placement starts (the kernel's
	// mmap_base); 0 means End.
	MmapBase uint64
	Mode     LockMode
	// Recycle reuses freed areas at once (SLAB_TYPESAFE_BY_RCU).
	Recycle bool
	// MaxAreas bounds the number of areas (vm.max_map_count); 0 means
	// no bound.
	MaxAreas int
	// StackLimit bounds the size a growsdown area may grow to on a fault
	// below it (RLIMIT_STACK); 0 means 8 MiB, Linux's default.
	StackLimit uint64
	// Frames is the arena the space's pages live in; nil means
	// frames.Default(). Spaces made by Fork share their parent's.
	Frames *frames.Arena
	// StartBrk is where the heap starts (start_brk, and the initial
	// brk); 0 means no heap: Brk cannot grow one below the space's base.
	StartBrk uint64
	// StackGuardGap is the gap kept free below a growsdown area, in
	// bytes (stack_guard_gap, the kernel's stack_guard_gap= boot
	// parameter in pages); 0 means 256 pages, Linux's default.
	StackGuardGap uint64
	// NoZeroPage makes a read fault on private anonymous memory allocate
	// a zeroed page of its own, giving the area its anon_vma, exactly as
	// a first write would: the behaviour of a kernel that never maps the
	// shared zero page (mm_forbids_zeropage(), or a host booted so). The
	// zero value keeps Linux's usual behaviour, the zero page.
	NoZeroPage bool
	// OvercommitNever is vm.overcommit_memory=2 (OVERCOMMIT_NEVER), under
	// which do_mmap ignores MAP_NORESERVE: the area is charged and merges
	// as if the flag had not been given. Commit limits themselves are not
	// modelled.
	OvercommitNever bool
	// THPAlign places mappings as a kernel built with transparent huge
	// pages does: anonymous private mappings of a multiple of 2 MiB with
	// no hint, and mappings of files that are THPAligner, at huge-page
	// alignment (thp_get_unmapped_area; see getUnmappedArea). Off by
	// default: the oracle scripts were recorded in regions the kernel
	// engine places itself.
	THPAlign bool
	// Hooks are test hooks; nil in production.
	Hooks *Hooks
}

// DefaultConfig is x86-64 Linux's user range with 4 KiB pages:
// [64 KiB, 2^47 - 4 KiB).
func DefaultConfig() Config {
	return Config{Base: 0x10000, End: 1<<47 - PageSize, Recycle: true}
}

// Space is an address space (the kernel's mm_struct).
type Space struct {
	// Read by every fault and immutable after New, so on lines no writer
	// stores to: the fields below them are written by every write session
	// (the lock's state and sequence, the tree's writer state, sessBuf),
	// and a fault reading a field that shares a line with them takes a
	// cross-core miss after each layout change. Measured: with these
	// fields between the tree and nareas, a fault under unrelated churn
	// kept 0.59-0.72 of its idle rate (GOGC=off), against 0.92 when the
	// churn ran on another space.

	// pt holds the pages. Its slots are atomic (package pagetable).
	pt *pagetable.Table
	// mem is the arena of the frames pt maps (pt.Mem()).
	mem                 *frames.Arena
	base, end, mmapBase uint64
	mode                LockMode
	recycle             bool
	maxAreas            int
	stackLimit          uint64
	stackGuardGap       uint64
	noZeroPage          bool
	overcommitNever     bool
	thpAlign            bool // Config.THPAlign
	hooks               *Hooks

	// Written locklessly by faults only (sharded counters, the lookup
	// hint), each on lines of its own.
	_     [64]byte
	stats stats
	hint  lookupHint
	_     [64]byte

	// lock is the space lock and its sequence (mmap_lock, mm_lock_seq).
	// Faults read the sequence; writers store to this line twice a
	// session, an unavoidable miss (the kernel's mm_lock_seq is the same).
	lock spacelock.Lock

	// tree indexes the areas; readers take snapshots without locks,
	// writers change it under lock held for writing.
	tree tree.Tree[entry, entryCell, *entryCell]

	// ptl serializes anon_vma assignment by concurrent faults
	// (page_table_lock).
	ptl sync.Mutex

	// Protected by lock held for writing.
	nareas  int
	sessBuf session
	closed  bool
	// observer follows page and protection changes (observer.go); nil
	// when none.
	observer Observer

	// hasObserver mirrors observer != nil for the lockless madvise path;
	// set under the write lock.
	hasObserver atomic.Bool
	// accessor is the observer as an Accessor, nil when it is not one;
	// stored under the write lock, loaded locklessly by ReadAt/WriteAt.
	accessor atomic.Pointer[accessorBox]
	// orderer is the observer as an Orderer, nil when it is not one;
	// stored under the write lock, loaded locklessly by begin.
	orderer atomic.Pointer[ordererBox]

	// closing is set under the write lock by Close; read locklessly.
	closing atomic.Bool

	// heap is the program break (brk.go): written under the space
	// write lock, read locklessly by the listing.
	heap struct{ start, brk atomic.Uint64 }
}

// New returns an empty space.
func New(c Config) (*Space, error) {
	if c.Base&pageMask != 0 || c.End&pageMask != 0 || c.Base >= c.End {
		return nil, fmt.Errorf("vmspace: bad range [%#x, %#x): %w", c.Base, c.End, syscall.EINVAL)
	}
	if c.MmapBase == 0 || c.MmapBase > c.End {
		c.MmapBase = c.End
	}
	if c.MmapBase&pageMask != 0 || c.MmapBase <= c.Base {
		return nil, fmt.Errorf("vmspace: bad mmap base %#x: %w", c.MmapBase, syscall.EINVAL)
	}
	pages := (c.End - c.Base) >> pageShift
	bits := uint(0)
	for (uint64(1) << bits) < pages {
		bits++
	}
	mem := c.Frames
	if mem == nil {
		mem = frames.Default()
	}
	s := &Space{
		pt:       pagetable.New(bits, mem),
		mem:      mem,
		base:     c.Base,
		end:      c.End,
		mmapBase: c.MmapBase,
		mode:     c.Mode,
		recycle:  c.Recycle,
		maxAreas: c.MaxAreas,
		hooks:    c.Hooks,
	}
	s.stackLimit = c.StackLimit
	if s.stackLimit == 0 {
		s.stackLimit = defaultStackLimit
	}
	s.heap.start.Store(c.StartBrk)
	s.heap.brk.Store(c.StartBrk)
	s.stackGuardGap = c.StackGuardGap
	if s.stackGuardGap == 0 {
		s.stackGuardGap = defaultStackGuardGap
	}
	if s.stackGuardGap&pageMask != 0 {
		return nil, fmt.Errorf("vmspace: stack guard gap %#x not page-aligned: %w", c.StackGuardGap, syscall.EINVAL)
	}
	s.noZeroPage, s.overcommitNever = c.NoZeroPage, c.OvercommitNever
	s.thpAlign = c.THPAlign
	s.lock.Init()
	// A space dropped without Close gives its frames back when the
	// collector finds it unreachable (the collector no longer frees
	// pages by itself: they are off its heap).
	runtime.AddCleanup(s, func(pt *pagetable.Table) { pt.ClearAll() }, s.pt)
	return s, nil
}

// Mode returns the space's lock mode.
func (s *Space) Mode() LockMode { return s.mode }

// Range returns [Base, End).
func (s *Space) Range() (base, end uint64) { return s.base, s.end }

// Len returns the number of areas, from the published tree.
func (s *Space) Len() int { return s.tree.Len() }

// TreeCopiedBytes returns the bytes that layout changes have copied into
// tree nodes so far (tree.Tree.CopiedBytes), a statistic for benchmarks.
// It takes the space lock, which is what serializes the tree's writers.
func (s *Space) TreeCopiedBytes() uint64 {
	s.lock.Lock()
	defer s.lock.Unlock()
	return s.tree.CopiedBytes()
}

// TreeInPlaceWrites returns how many layout changes wrote a tree leaf in
// place (tree.Tree.InPlaceWrites), a statistic for the torture and tests.
func (s *Space) TreeInPlaceWrites() uint64 {
	s.lock.Lock()
	defer s.lock.Unlock()
	return s.tree.InPlaceWrites()
}

// Close tears the space down: every area is write-locked, detached after
// its readers drain, and freed at once, with no deferred work (the kernel's
// exit_mmap frees VMAs directly). Faults and calls after Close fail with
// ErrClosed. Close is idempotent.
func (s *Space) Close() {
	s.lock.Lock()
	defer s.lock.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.closing.Store(true)
	snap := s.tree.Snapshot()
	var gone []*Area
	snap.Ascend(0, func(it tree.Item[entry]) bool {
		a := it.Val.a
		a.lock.StartWrite(&s.lock)
		a.lock.Detach(&s.lock)
		gone = append(gone, a)
		return true
	})
	snap.Release()
	txn := s.tree.Txn()
	if err := txn.Replace(0, ^uint64(0), nil); err != nil {
		panic("mm: Close: " + err.Error()) // no failpoint is installed on this txn
	}
	txn.Commit()
	s.pt.Clear(0, (s.end-s.base)>>pageShift)
	for _, a := range gone {
		s.freeArea(a)
	}
	s.nareas = 0
}
