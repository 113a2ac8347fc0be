package frames

// Frame names a 4 KiB frame of an Arena. None, Zero and Guard are special
// values; every other value is a frame allocated from the arena.
type Frame uint32

const (
	// None is no frame: an empty page-table slot.
	None Frame = 0
	// Zero is the shared zero page (the kernel's ZERO_PAGE): a frame
	// every arena reserves, all zeroes, never written, never freed.
	Zero Frame = 1
	// Guard is the marker a guard region leaves in a slot (the kernel's
	// PTE_MARKER_GUARD): not a frame, no data.
	Guard Frame = ^Frame(0)

	// firstFrame is the first number Alloc can return: 0 and 1 are
	// reserved for None and Zero.
	firstFrame Frame = 2
)

// Ordinary reports whether f is a frame with data of its own: neither
// None, the zero page nor a guard marker (vm_normal_folio finds a folio).
func (f Frame) Ordinary() bool { return f > Zero && f != Guard }

// PageSize is the size of a frame.
const PageSize = 4096

// wordsPerPage is the number of 64-bit words in a frame.
const wordsPerPage = PageSize / 8
