package script

// Area is one line of the maps block: an area overlapping the region, as
// offsets from the base. Start is negative for an area that reaches below
// the base; End may lie beyond the region.
type Area struct {
	Start, End int64
	Prot       Prot
	Shared     bool
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
}
