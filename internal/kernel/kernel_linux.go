//go:build linux && (amd64 || arm64)

package kernel

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/vmspace/vmspace/internal/script"
	"golang.org/x/sys/unix"
)

const pageSize = 4096

// Supported reports whether this platform can run the kernel engine:
// Linux on amd64 or arm64 with 4 KiB pages, the page size the oracle's
// answers assume.
func Supported() bool { return os.Getpagesize() == pageSize }

// Engine runs script calls against the real kernel on a region of this
// process. It is not safe for concurrent use; different Engines are.
type Engine struct {
	basePtr unsafe.Pointer // the region base, derived from a real mapping
	base    uint64         // the same address as a number
	// The arena is the region and a margin of RegionSize on either side,
	// all found free at New. The Go runtime places its mappings top-down
	// from mmap_base or at its heap hints, far from it.
	arenaLo, arenaHi uint64
	taskSize         uint64 // the kernel's TASK_SIZE: user addresses lie below it
	// outside lists the mappings the kernel placed outside the arena (a
	// hint over used memory, mremap MAYMOVE), for Close to unmap.
	outside [][2]uint64
	closed  bool

	files  map[string]*kfile    // the script's files (files_linux.go)
	idents map[[3]uint64]string // every file the script made, by device and inode
	heap   heapState            // the region moved to the break (brk_linux.go)
}

var _ script.Engine = (*Engine)(nil)

// Region bases to try, in order. The first ones lie above 2^46, out of
// reach of the Go heap, whose base Go 1.26 randomizes below 2^46 and
// which then grows upward from it, and above the race detector's shadow
// (0x2000_0000_0000 to 0x4000_0000_0000); yet far below the top-down mmap
// area under 0x7f.._...., where the runtime's, libc's and the kernel's
// own choices go. The later ones, below the shadow, are fallbacks.
var candidates = []uint64{
	0x500000000000, 0x580000000000, 0x600000000000, 0x480000000000,
	0x100000000000, 0x140000000000, 0x180000000000, 0x1c0000000000,
}

// inUse holds the bases of live Engines, so that two Engines never share
// a region (the probe leaves the region unmapped).
var (
	inUseMu sync.Mutex
	inUse   = map[uint64]bool{}
)

// New reserves a free region and returns an engine for it. The region and
// its margins are checked free with a MAP_FIXED_NOREPLACE probe (which
// fails with EEXIST over any mapping) that is then unmapped, so the region
// starts empty, as every script expects.
func New() (*Engine, error) {
	if !Supported() {
		return nil, ErrUnsupported
	}
	// The host probe also turns transparent huge pages off for this
	// process where they could apply (vmspace has none).
	if _, err := ProbeHost(); err != nil {
		return nil, err
	}
	// A real mapping gives a pointer from which the candidate addresses are
	// derived with unsafe.Add (no uintptr-to-pointer conversion).
	seed, err := unix.MmapPtr(-1, 0, nil, pageSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("kernel: mmap: %w", err)
	}
	defer unix.MunmapPtr(seed, pageSize)
	taskSize := probeTaskSize()

	inUseMu.Lock()
	defer inUseMu.Unlock()
	const arenaSize = 3 * RegionSize
	for _, c := range candidates {
		if inUse[c] {
			continue
		}
		lo := c - RegionSize
		want := unsafe.Add(seed, int(lo-uint64(uintptr(seed))))
		p, err := unix.MmapPtr(-1, 0, want, arenaSize, unix.PROT_NONE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED_NOREPLACE)
		if err != nil {
			continue
		}
		if p != want { // a kernel without MAP_FIXED_NOREPLACE took it as a hint
			unix.MunmapPtr(p, arenaSize)
			continue
		}
		if err := unix.MunmapPtr(p, arenaSize); err != nil {
			return nil, fmt.Errorf("kernel: munmap probe: %w", err)
		}
		inUse[c] = true
		return &Engine{
			basePtr:  unsafe.Add(p, RegionSize),
			base:     c,
			arenaLo:  lo,
			arenaHi:  lo + arenaSize,
			taskSize: taskSize,
		}, nil
	}
	return nil, errors.New("kernel: no free region for the engine")
}

// probeTaskSize finds TASK_SIZE: 2^47-4096 with 4-level page tables,
// 2^56-4096 with 5-level ones, where a hint above 2^47 is honoured.
func probeTaskSize() uint64 {
	const hi = 1 << 47
	addr, _, errno := unix.Syscall6(unix.SYS_MMAP, hi, pageSize, unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uintptr(0), 0)
	if errno == unix.EEXIST { // something lives above 2^47: 5-level
		return 1<<56 - pageSize
	}
	if errno != 0 {
		return hi - pageSize
	}
	unix.Syscall(unix.SYS_MUNMAP, addr, pageSize, 0)
	if addr == hi {
		return 1<<56 - pageSize
	}
	return hi - pageSize
}

// Reset unmaps everything the engine's scripts mapped, leaving the region
// empty for the next script, as New does but without a new probe: every
// VMA overlapping the arena (to its full extent, as one may have grown
// past the arena) and the mappings the kernel placed outside it.
func (e *Engine) Reset() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	keep(e.resetHeap())
	e.closeFiles()
	vmas, err := readMaps()
	keep(err)
	for _, v := range vmas {
		if v.start < e.arenaHi && v.end > e.arenaLo {
			keep(munmap(v.start, v.end-v.start))
		}
	}
	keep(munmap(e.arenaLo, e.arenaHi-e.arenaLo))
	for _, o := range e.outside {
		keep(munmap(o[0], o[1]))
	}
	e.outside = nil
	e.restoreRegion()
	return first
}

// Close resets the engine and gives its region back.
func (e *Engine) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	defer func() {
		inUseMu.Lock()
		delete(inUse, e.base)
		inUseMu.Unlock()
	}()
	return e.Reset()
}

func munmap(addr, length uint64) error {
	if _, _, errno := unix.Syscall(unix.SYS_MUNMAP, uintptr(addr), uintptr(length), 0); errno != 0 {
		return errno
	}
	return nil
}

// inArena reports whether addr lies in the arena.
func (e *Engine) inArena(addr uint64) bool { return addr >= e.arenaLo && addr < e.arenaHi }

// placed turns an address the kernel returned into the script's answer,
// and remembers a mapping placed outside the arena for Close.
func (e *Engine) placed(addr, length uint64) (uint64, bool) {
	if !e.inArena(addr) {
		e.outside = append(e.outside, [2]uint64{addr, pageAlign(length)})
	}
	off := addr - e.base
	return off, off < RegionSize
}

// pageAlign is the kernel's PAGE_ALIGN, wrapping to 0 near 2^64.
func pageAlign(n uint64) uint64 { return (n + pageSize - 1) &^ (pageSize - 1) }
