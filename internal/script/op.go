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
	OpFile      // file NAME SIZE [ro|wo]
	OpMmapFile  // mmapfile OFF LEN PROT FLAGS NAME FOFF
	OpFtruncate // ftruncate NAME SIZE
	OpHeap      // heap OFF
	OpBrk       // brk OFF
	opEnd       // one past the last kind
)

var opWords = [...]string{
	OpComment:   "#",
	OpMmap:      "mmap",
	OpMunmap:    "munmap",
	OpMprotect:  "mprotect",
	OpMremap:    "mremap",
	OpMadvise:   "madvise",
	OpTouch:     "touch",
	OpRead:      "read",
	OpMincore:   "mincore",
	OpMaps:      "maps",
	OpFile:      "file",
	OpMmapFile:  "mmapfile",
	OpFtruncate: "ftruncate",
	OpHeap:      "heap",
	OpBrk:       "brk",
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

	// file, mmapfile, ftruncate: the file's name in the script; FileOff
	// is mmapfile's byte offset into it, Len the size for file and
	// ftruncate, Mode file's open mode.
	File    string
	FileOff uint64
	Mode    FileMode
}

// FileMode is the mode a script file is opened with: read and write
// (the default), read-only ("ro") or write-only ("wo").
type FileMode uint8

const (
	FileRW FileMode = iota
	FileRO
	FileWO
)
