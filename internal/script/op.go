package script

import "fmt"

// OpKind is the call a script line makes.
type OpKind int

const (
	OpComment OpKind = iota // blank line or '#': echoed unchanged
	OpMmap
	OpMunmap
	OpMprotect
	OpMremap
	OpMadvise
	OpTouch
	OpRead
	OpMincore
	OpMaps
)

var opWords = [...]string{
	OpComment:  "#",
	OpMmap:     "mmap",
	OpMunmap:   "munmap",
	OpMprotect: "mprotect",
	OpMremap:   "mremap",
	OpMadvise:  "madvise",
	OpTouch:    "touch",
	OpRead:     "read",
	OpMincore:  "mincore",
	OpMaps:     "maps",
}

// String gives the script word of the call ("#" for a comment).
func (k OpKind) String() string {
	if k >= 0 && int(k) < len(opWords) {
		return opWords[k]
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is one parsed script line. Offsets and lengths are relative to the
// engine's region base and are uint64 two's complement, exactly the bits
// the kernel would receive after adding the base.
type Op struct {
	Kind OpKind
	// Line is the trimmed line, echoed at the start of the output line.
	Line string

	Off, Len       uint64 // every call but maps; Len unused by touch and read
	NewLen, NewOff uint64 // mremap; NewOff only with Fixed
	Prot           Prot   // mmap, mprotect
	Flags          MapFlags
	Advice         Advice
	Val            byte // touch: the byte written (default 1)

	// mremap: MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP. Fixed implies
	// MayMove, and Parse sets both.
	MayMove, Fixed, DontUnmap bool
}
