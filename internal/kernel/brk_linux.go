//go:build linux && (amd64 || arm64)

package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unsafe"

	"github.com/vmspace/vmspace/internal/script"
	"golang.org/x/sys/unix"
)

// The heap of a script is this process's own program break. The kernel
// keeps one per process, at start_brk, placed by exec; moving it needs
// prctl(PR_SET_MM) and CAP_SYS_RESOURCE, which a test cannot count on.
// So the engine moves its region instead: a heap line, which must come
// before anything is mapped, rebases the region so that base+OFF is the
// process's start_brk, and brk lines then make real brk calls.
//
// That is safe only in a process where nothing else uses brk: a pure Go
// binary (the runtime never calls brk on 64-bit systems). A binary with
// C code in it (cgo, and so every -race build) has glibc's malloc, which
// grows its main arena with sbrk from the same break: it would allocate
// inside the region, or see its heap unmapped by a script. There the
// heap line fails with ErrNoBrk. Only one engine of a process can hold
// the break at a time; the others wait in their heap line.

// ErrNoBrk is returned by a heap line where the engine cannot use the
// process's break (see above). Run stops on it, as on ErrOutsideArena.
var ErrNoBrk = errors.New("kernel: brk is not usable in this process (C code shares the break, or the heap is not free)")

// brkMu is held by the engine whose script owns the break, from its heap
// line to its Reset.
var brkMu sync.Mutex

// heapState is the engine's state while it owns the break.
type heapState struct {
	on                     bool
	startBrk               uint64
	base, arenaLo, arenaHi uint64 // the region before the heap line
	basePtr                unsafe.Pointer
}

// brkUsable reports whether the process's break is untouched and no C
// library shares it: brk equals start_brk, and no libc is mapped.
func brkUsable() (startBrk uint64, ok bool) {
	if raceBuild {
		return 0, false
	}
	stat, err := readProc("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which may hold spaces: the 47th
	// field of the line (start_brk) is the 45th after ')'.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	f := bytes.Fields(rest)
	if len(f) < 45 {
		return 0, false
	}
	startBrk, err = strconv.ParseUint(string(f[44]), 10, 64)
	if err != nil {
		return 0, false
	}
	cur, _, _ := unix.Syscall(unix.SYS_BRK, 0, 0, 0)
	if uint64(cur) != startBrk || startBrk%pageSize != 0 {
		return 0, false
	}
	vmas, err := readMaps()
	if err != nil {
		return 0, false
	}
	for _, v := range vmas {
		if v.name == "[heap]" || bytes.Contains([]byte(v.name), []byte("libc")) {
			return 0, false
		}
	}
	return startBrk, true
}

// Heap implements script.Engine: the region moves so that base+off is the
// process's start_brk. Nothing may be mapped by the script yet.
func (e *Engine) Heap(off uint64) error {
	if e.heap.on {
		return fmt.Errorf("kernel: a second heap line")
	}
	if off%pageSize != 0 || off >= RegionSize {
		return fmt.Errorf("kernel: heap offset %#x not a page in the region", off)
	}
	vmas, err := readMaps()
	if err != nil {
		return err
	}
	for _, v := range vmas {
		if v.start < e.arenaHi && v.end > e.arenaLo {
			return fmt.Errorf("kernel: heap after the region was used")
		}
	}
	if len(e.outside) > 0 {
		return fmt.Errorf("kernel: heap after the region was used")
	}
	brkMu.Lock()
	startBrk, ok := brkUsable()
	if !ok || startBrk < off {
		brkMu.Unlock()
		return ErrNoBrk
	}
	base := startBrk - off
	// The new arena: the region, a margin of RegionSize above it, and a
	// small one below (this binary's data lies somewhere below; a script
	// that reached it, even only to look, as mincore does, would answer
	// for this host).
	const lowMargin = 1 << 20
	const size = 2*RegionSize + lowMargin
	if base < lowMargin {
		brkMu.Unlock()
		return ErrNoBrk
	}
	lo := base - lowMargin
	want := unsafe.Add(e.basePtr, int(lo-e.base))
	p, err := unix.MmapPtr(-1, 0, want, size, unix.PROT_NONE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED_NOREPLACE)
	if err != nil || p != want {
		if err == nil {
			unix.MunmapPtr(p, size)
		}
		brkMu.Unlock()
		return ErrNoBrk
	}
	if err := unix.MunmapPtr(p, size); err != nil {
		brkMu.Unlock()
		return err
	}
	e.heap = heapState{on: true, startBrk: startBrk, base: e.base, arenaLo: e.arenaLo, arenaHi: e.arenaHi, basePtr: e.basePtr}
	e.base, e.basePtr, e.arenaLo, e.arenaHi = base, unsafe.Add(want, lowMargin), lo, lo+size
	return nil
}

// Brk implements script.Engine with a real brk call. A target above the
// arena is refused: growing the break maps everything between the old
// break and the new.
func (e *Engine) Brk(off uint64) (uint64, error) {
	if !e.heap.on {
		return 0, script.ErrNoHeap
	}
	// Below start_brk the call fails and changes nothing; above the
	// arena it could map far from it.
	addr := e.base + off
	if addr >= e.arenaHi {
		return 0, ErrOutsideArena
	}
	r, _, _ := unix.Syscall(unix.SYS_BRK, uintptr(addr), 0, 0)
	return uint64(r) - e.base, nil
}

// resetHeap gives the break back at start_brk and the region back where
// it was (Reset, before the arena is emptied). brk only shrinks over a
// mapping, so a page is mapped at start_brk first if the script left the
// heap's range empty.
func (e *Engine) resetHeap() error {
	if !e.heap.on {
		return nil
	}
	defer brkMu.Unlock()
	h := e.heap
	cur, _, _ := unix.Syscall(unix.SYS_BRK, 0, 0, 0)
	if pageAlign(uint64(cur)) != h.startBrk {
		unix.Syscall6(unix.SYS_MMAP, uintptr(h.startBrk), pageSize, unix.PROT_NONE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, ^uintptr(0), 0)
	}
	r, _, _ := unix.Syscall(unix.SYS_BRK, uintptr(h.startBrk), 0, 0)
	var err error
	if uint64(r) != h.startBrk {
		err = fmt.Errorf("kernel: could not give the break back: at %#x, want %#x", r, h.startBrk)
	}
	return err
}

// restoreRegion puts the region back where it was before the heap line
// (Reset, after the arena is emptied).
func (e *Engine) restoreRegion() {
	if !e.heap.on {
		return
	}
	h := e.heap
	e.base, e.basePtr, e.arenaLo, e.arenaHi = h.base, h.basePtr, h.arenaLo, h.arenaHi
	e.heap = heapState{}
}
