package script

import "errors"

// Area is one line of the maps block: an area overlapping the region, as
// offsets from the base. Start is negative for an area that reaches below
// the base; End may lie beyond the region.
type Area struct {
	Start, End int64
	Prot       Prot
	Shared     bool
	// File is the script's name of the mapped file ("" for memory that
	// maps no script file), and FileOff the byte offset of Start in it.
	File    string
	FileOff uint64
	// Heap marks an area the kernel lists as "[heap]".
	Heap bool
}

// Engine executes script calls. Offsets are relative to the engine's
// region base and wrap like the kernel's unsigned arithmetic. Errors are
// syscall.Errno values, the fault errors (ErrSegvMaperr, ErrSegvAccerr,
// ErrSigbus) for a touch or read that faults, or anything else for a
// failure of the engine itself, which stops Run.
type Engine interface {
	// Mmap maps anonymous memory; placed is the offset of the result, and
	// inside is false when it lies outside the region.
	Mmap(off, length uint64, prot Prot, flags MapFlags) (placed uint64, inside bool, err error)
	Munmap(off, length uint64) error
	Mprotect(off, length uint64, prot Prot) error
	// Mremap resizes or moves; fixed implies mayMove.
	Mremap(off, oldLen, newLen uint64, mayMove, fixed bool, newOff uint64, dontUnmap bool) (placed uint64, inside bool, err error)
	Madvise(off, length uint64, advice Advice) error
	// Touch writes val at off; Read reads the byte at off.
	Touch(off uint64, val byte) error
	Read(off uint64) (byte, error)
	// Mincore reports residency, one bool per page of the range.
	Mincore(off, length uint64) ([]bool, error)
	// Maps gives the areas overlapping the region, in address order.
	Maps() ([]Area, error)

	// File creates the file name of size bytes (zeroes) and opens it
	// with mode, replacing an earlier file of that name in the script.
	File(name string, size uint64, mode FileMode) error
	// MmapFile maps the file name from byte offset foff, as Mmap maps
	// anonymous memory.
	MmapFile(off, length uint64, prot Prot, flags MapFlags, name string, foff uint64) (placed uint64, inside bool, err error)
	// Ftruncate sets the size of the file name through its descriptor.
	Ftruncate(name string, size uint64) error
	// Heap puts the start of the heap and the break at off (what exec,
	// or prctl PR_SET_MM_START_BRK and PR_SET_MM_BRK, do).
	Heap(off uint64) error
	// Brk calls brk(base+off) and gives the break it returned, as an
	// offset. It needs a Heap first.
	Brk(off uint64) (uint64, error)
}

// ErrNoHeap is the engine failure of a brk before any heap line.
var ErrNoHeap = errors.New("script: brk before heap")
