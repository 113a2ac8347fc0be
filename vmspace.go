// Package vmspace manages a virtual address space the way Linux's mm does,
// and locks it the way Linux does since 6.4: with per-area (per-VMA) locks.
//
// A Space holds one address space: a set of non-overlapping areas (Linux's
// VMAs), each with a protection and flags, and the pages made present in
// them. Map, Unmap and Protect change the layout with Linux's splits,
// merges and errors (syscall.Errno values, so errors.Is(err,
// syscall.ENOMEM) works). Fault resolves a page fault: it finds the area
// through a tree lookup that takes no lock, read-locks only that area, and
// so keeps going while other goroutines map, unmap and protect other
// memory. A whole-space mode, where every fault takes the space lock as in
// gVisor and older kernels, lives beside it so both can be measured.
//
//	s, _ := vmspace.New()
//	defer s.Close()
//	addr, _ := s.Map(0, 16*vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous)
//	_ = s.Fault(addr, vmspace.Write)              // zero-filled page made present
//	_ = s.Protect(addr, vmspace.PageSize, vmspace.ProtRead)
//	err := s.Fault(addr, vmspace.Write)           // *FaultError, Code AccErr (SEGV_ACCERR)
//	_ = s.Unmap(addr, 16*vmspace.PageSize)
//
// Remap (mremap), Advise (madvise) and Fork (fork's dup_mmap) answer as
// Linux does too, checked against the real kernel by a differential
// fuzzer (internal/replay). MapFile maps files (a File: an *os.File through
// OSFile, or a MemFile), privately or shared, with a page cache per file
// shared by every space, SIGBUS past the end of the file and Truncate;
// Brk moves the program break of a heap placed with WithBrk or SetBrk.
//
// The locking protocol, the lock order and what protects each field are
// documented in internal/mm, internal/arealock and internal/spacelock.
package vmspace

import (
	"io"

	"github.com/vmspace/vmspace/internal/mm"
	"github.com/vmspace/vmspace/internal/mmaccess"
)

// PageSize is the page size: 4 KiB.
const PageSize = mm.PageSize

// Prot is a protection, with mmap's PROT_* values.
type Prot = mm.Prot

const (
	ProtNone  = mm.ProtNone
	ProtRead  = mm.ProtRead
	ProtWrite = mm.ProtWrite
	ProtExec  = mm.ProtExec
)

// MapFlags are mmap's MAP_* flags, with Linux's values.
type MapFlags = mm.MapFlags

const (
	MapShared         = mm.MapShared
	MapSharedValidate = mm.MapSharedValidate
	MapPrivate        = mm.MapPrivate
	MapFixed          = mm.MapFixed
	MapAnonymous      = mm.MapAnonymous
	MapGrowsDown      = mm.MapGrowsDown
	MapLocked         = mm.MapLocked
	MapNoReserve      = mm.MapNoReserve
	MapPopulate       = mm.MapPopulate
	MapStack          = mm.MapStack
	MapFixedNoReplace = mm.MapFixedNoReplace
)

// Flags are an area's flags, with the kernel's VM_* values.
type Flags = mm.Flags

// Access is the kind of a faulting access: Read, Write or Exec.
type Access = mm.Access

const (
	Read  = mm.Read
	Write = mm.Write
	Exec  = mm.Exec
)

// FaultError is the error of a failed fault; it wraps syscall.EFAULT and
// its Code tells MapErr (no mapping, SEGV_MAPERR) from AccErr (the mapping
// forbids the access, SEGV_ACCERR).
type FaultError = mm.FaultError

// FaultCode is MapErr or AccErr.
type FaultCode = mm.FaultCode

const (
	MapErr = mm.MapErr
	AccErr = mm.AccErr
)

// Stats are the fault-path counters (see mm.Stats).
type Stats = mm.Stats

// FrameStats are the counters of the memory pages live in: an arena of
// 4 KiB frames off the Go heap, shared by every space of the process
// (forked spaces map the same frames).
type FrameStats struct {
	// Frames is the number of frames the arena has grown to; Bytes is
	// their size. The arena never shrinks.
	Frames, Bytes uint64
	// Free is the number of frames ready for reuse.
	Free uint64
	// Held is the number of frames no page table maps any more that
	// still wait for a reader that holds them (a ReadAt, WriteAt or
	// copy-on-write copy in flight) before they can be reused.
	Held uint64
	// Backing is the memory in use: "memfd", "anonymous" (memfd_create
	// failed) or "heap" (mmap failed too).
	Backing string
}

// Mapping is one line of the layout.
type Mapping = mm.Mapping

// LockMode selects how faults lock the space.
type LockMode = mm.LockMode

const (
	// PerArea: lockless lookup and a per-area read lock (the default).
	PerArea = mm.PerArea
	// WholeSpace: every fault takes the space lock for reading.
	WholeSpace = mm.WholeSpace
)

// ErrClosed is returned by calls on a closed space.
var ErrClosed = mm.ErrClosed

// Option configures New.
type Option func(*mm.Config)

// WithRange sets the user range [base, end) (page-aligned). The default is
// x86-64 Linux's: [64 KiB, 2^47 - 4 KiB).
func WithRange(base, end uint64) Option {
	return func(c *mm.Config) { c.Base, c.End = base, end }
}

// WithMmapBase sets where top-down placement starts (default: the end of
// the range).
func WithMmapBase(addr uint64) Option { return func(c *mm.Config) { c.MmapBase = addr } }

// WithLockMode selects PerArea (default) or WholeSpace.
func WithLockMode(m LockMode) Option { return func(c *mm.Config) { c.Mode = m } }

// WithRecycling turns the immediate reuse of freed areas on (the default)
// or off.
//
// On, a freed area goes back to a pool shared by all spaces and may be
// handed out again at once, as the kernel's SLAB_TYPESAFE_BY_RCU cache does;
// lockless readers that still hold a pointer to it are kept safe by the
// validation after their try-lock (same space, still attached, address
// still inside). Off, freed areas are left to the garbage collector.
//
// Measured at 1,000 areas (go test -bench 'BenchmarkMapUnmap/hole/areas=1000'
// -count 3, 2 cores): a Map+Unmap pair costs 11 allocations and 5,096 bytes
// with recycling against 12 and 5,192 without, at the same speed within
// noise (1.93-2.17 µs against 1.99-2.20 µs); faults are unaffected (32-34 ns
// either way). Recycling is the default for the allocation it saves on
// every layout change, which the collector would otherwise have to find,
// and because it keeps the readers' validation exercised in every run:
// with recycling off, a missing check can hide.
func WithRecycling(on bool) Option { return func(c *mm.Config) { c.Recycle = on } }

// WithMaxAreas bounds the number of areas, as vm.max_map_count does
// (Linux's default is 65530). 0, the default, means no bound.
func WithMaxAreas(n int) Option { return func(c *mm.Config) { c.MaxAreas = n } }

// WithZeroPage chooses what a read fault on never-written private
// anonymous memory maps. On (the default), it maps the shared zero page, as
// Linux does: no memory is allocated and the area gets no anon_vma, so it
// still merges like an area never touched. Off, the fault allocates a zeroed
// page of its own and gives the area its anon_vma, exactly as a first write
// would, as on a kernel that never maps the zero page (mm_forbids_zeropage,
// or a host booted without it); MAP_POPULATE and MADV_POPULATE_READ, Mincore
// and Fork follow from the pages then present.
func WithZeroPage(on bool) Option { return func(c *mm.Config) { c.NoZeroPage = !on } }

// WithStackLimit bounds the size a growsdown area may grow to on a fault
// below it, as RLIMIT_STACK does (default 8 MiB; ^uint64(0) is
// RLIM_INFINITY).
func WithStackLimit(n uint64) Option { return func(c *mm.Config) { c.StackLimit = n } }

// WithStackGuardGap sets the gap, in bytes (page-aligned), that placement
// and stack growth keep free below a growsdown area (the kernel's
// stack_guard_gap, 256 pages by default).
func WithStackGuardGap(n uint64) Option { return func(c *mm.Config) { c.StackGuardGap = n } }

// WithOvercommitNever answers as a host with vm.overcommit_memory=2 does
// for mappings: MAP_NORESERVE is ignored, so such an area is charged and
// merges as if the flag had not been given. Commit limits are not modelled.
func WithOvercommitNever(on bool) Option { return func(c *mm.Config) { c.OvercommitNever = on } }

// WithTHPAlign places mappings as a kernel built with transparent huge
// pages does (thp_get_unmapped_area): anonymous private mappings whose
// length is a multiple of 2 MiB, given no hint, and mappings of files
// that implement THPAligner (files of ext4, xfs, btrfs), go to huge-page
// aligned addresses (for a file: aligned like their file offset). Off by
// default.
func WithTHPAlign(on bool) Option { return func(c *mm.Config) { c.THPAlign = on } }

// THPAligner is implemented by a File whose file system aligns its
// mappings to huge pages (see WithTHPAlign).
type THPAligner = mm.THPAligner

// Space is an address space (the kernel's mm_struct). All methods are safe
// for concurrent use.
type Space struct {
	s *mm.Space
}

// New returns an empty space.
func New(opts ...Option) (*Space, error) {
	c := mm.DefaultConfig()
	for _, o := range opts {
		o(&c)
	}
	s, err := mm.New(c)
	if err != nil {
		return nil, err
	}
	return &Space{s}, nil
}

// Map maps anonymous memory and returns its address (mmap). flags hold
// exactly one of MapPrivate and MapShared (MapAnonymous is implied); with
// MapFixed the mapping goes at addr and replaces what was there, with
// MapFixedNoReplace it goes at addr or fails with EEXIST, and otherwise a
// non-zero addr is a hint and the space is searched top-down.
func (s *Space) Map(addr, length uint64, prot Prot, flags MapFlags) (uint64, error) {
	return s.s.Map(addr, length, prot, flags)
}

// Unmap removes the mappings in [addr, addr+length) (munmap).
func (s *Space) Unmap(addr, length uint64) error { return s.s.Unmap(addr, length) }

// Protect changes the protection of [addr, addr+length) (mprotect).
func (s *Space) Protect(addr, length uint64, prot Prot) error {
	return s.s.Protect(addr, length, prot)
}

// Fault resolves a page fault at addr: it checks acc against the covering
// area's protection and makes the page present, zero-filled on first
// touch. A failure is a *FaultError.
func (s *Space) Fault(addr uint64, acc Access) error { return s.s.Fault(addr, acc) }

// Maps returns the layout as of one moment, without blocking writers or
// being blocked by them.
func (s *Space) Maps() []Mapping { return s.s.Maps() }

// WriteMaps writes the layout in /proc/self/maps form.
func (s *Space) WriteMaps(w io.Writer) error { return s.s.WriteMaps(w) }

// Stats returns the fault-path counters; it stops nothing.
func (s *Space) Stats() Stats { return s.s.Stats() }

// FrameStats returns the counters of the memory the space's pages live in.
// It stops nothing.
func (s *Space) FrameStats() FrameStats {
	st := s.s.FrameStats()
	return FrameStats{Frames: st.Frames, Bytes: st.Bytes, Free: st.Free, Held: st.Held, Backing: st.Backing.String()}
}

// Len returns the number of areas.
func (s *Space) Len() int { return s.s.Len() }

// Mode returns the space's lock mode.
func (s *Space) Mode() LockMode { return s.s.Mode() }

// Close tears the space down; its areas are freed at once.
func (s *Space) Close() { s.s.Close() }

// ReadAt reads len(p) bytes at addr through the space, faulting pages in
// for reading and honouring protections, like a process's own loads.
// It returns the bytes read before the first fault and the fault's error.
func (s *Space) ReadAt(p []byte, addr uint64) (int, error) { return s.s.ReadAt(p, addr) }

// WriteAt writes p at addr through the space, faulting pages in for
// writing (copy-on-write where they are shared).
func (s *Space) WriteAt(p []byte, addr uint64) (int, error) { return s.s.WriteAt(p, addr) }

// Mincore reports, per page of [addr, addr+length), whether it is present.
func (s *Space) Mincore(addr, length uint64) ([]bool, error) { return s.s.Mincore(addr, length) }

// Area is a read-locked area: while held, the area cannot change or go.
// Release it with Unlock, and do not call Map, Unmap, Protect or anything
// else that takes the space lock while holding it: a writer waiting for
// this reader would deadlock.
type Area = mm.Handle

// LockArea read-locks the area covering addr (or, in whole-space mode or
// when the lockless path gives up, holds the space lock for reading).
func (s *Space) LockArea(addr uint64) (*Area, error) { return s.s.LockArea(addr) }

// RemapFlags are mremap's MREMAP_* flags, with Linux's values.
type RemapFlags = mm.RemapFlags

const (
	// RemapMayMove lets a growing mapping move when it cannot grow in
	// place (MREMAP_MAYMOVE).
	RemapMayMove = mm.RemapMayMove
	// RemapFixed moves the mapping to newAddr, replacing what was there
	// (MREMAP_FIXED); it needs RemapMayMove.
	RemapFixed = mm.RemapFixed
	// RemapDontUnmap moves the pages and leaves the source area in
	// place, empty (MREMAP_DONTUNMAP); it needs RemapMayMove and an
	// unchanged size.
	RemapDontUnmap = mm.RemapDontUnmap
)

// Remap resizes or moves the mapping [addr, addr+oldLen) to newLen bytes
// (mremap) and returns its address; newAddr counts only with RemapFixed
// (the target) or RemapDontUnmap (a hint). Pages move with the mapping.
func (s *Space) Remap(addr, oldLen, newLen uint64, flags RemapFlags, newAddr uint64) (uint64, error) {
	return s.s.Remap(addr, oldLen, newLen, flags, newAddr)
}

// Advice is a madvise advice, with Linux's MADV_* value.
type Advice = mm.Advice

const (
	AdviseNormal         = mm.AdviseNormal
	AdviseRandom         = mm.AdviseRandom
	AdviseSequential     = mm.AdviseSequential
	AdviseWillNeed       = mm.AdviseWillNeed
	AdviseDontNeed       = mm.AdviseDontNeed
	AdviseFree           = mm.AdviseFree
	AdviseDontFork       = mm.AdviseDontFork
	AdviseDoFork         = mm.AdviseDoFork
	AdviseHugePage       = mm.AdviseHugePage
	AdviseNoHugePage     = mm.AdviseNoHugePage
	AdviseDontDump       = mm.AdviseDontDump
	AdviseDoDump         = mm.AdviseDoDump
	AdviseWipeOnFork     = mm.AdviseWipeOnFork
	AdviseKeepOnFork     = mm.AdviseKeepOnFork
	AdviseCold           = mm.AdviseCold
	AdvisePageout        = mm.AdvisePageout
	AdvisePopulateRead   = mm.AdvisePopulateRead
	AdvisePopulateWrite  = mm.AdvisePopulateWrite
	AdviseDontNeedLocked = mm.AdviseDontNeedLocked
	AdviseGuardInstall   = mm.AdviseGuardInstall
	AdviseGuardRemove    = mm.AdviseGuardRemove
)

// Advise gives advice about [addr, addr+length) (madvise): drop pages
// (AdviseDontNeed, AdviseFree, AdvisePageout), fault them in
// (AdvisePopulateRead, AdvisePopulateWrite), install or remove guard
// regions, or set the flags that the other advice sets, splitting and
// merging areas as Protect does. Holes in the range are skipped and
// reported with ENOMEM after the rest has been advised.
func (s *Space) Advise(addr, length uint64, adv Advice) error { return s.s.Advise(addr, length, adv) }

// ErrSigbus is the error of an access past the end of the object behind a
// shared mapping (after Remap grew the mapping beyond it).
var ErrSigbus = mm.ErrSigbus

// Fork returns a child space, as fork(2) makes one: private pages are
// shared copy-on-write, shared mappings stay shared, areas advised
// AdviseDontFork are left out and areas advised AdviseWipeOnFork come
// empty. The parent is held still while it is copied.
func (s *Space) Fork() (*Space, error) {
	c, err := s.s.Fork()
	if err != nil {
		return nil, err
	}
	return &Space{c}, nil
}

func init() {
	mmaccess.Unwrap = func(space any) *mm.Space { return space.(*Space).s }
}
