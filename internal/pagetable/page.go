// Package pagetable holds the pages of a vmspace address space and the
// table that maps page-aligned addresses to them (the kernel's page tables
// and struct page, in small).
//
// Faults on different areas run at the same time under different area read
// locks, and faults on the same area under shared read locks, so the table
// is built for concurrent writers: every slot is an atomic pointer, missing
// directory levels are installed with a compare-and-swap, and a fault makes
// a page present with a compare-and-swap of its slot. Removal (unmap,
// dontneed) happens only while the areas covering the range are write-locked
// or detached and the space lock is held for writing, so no fault can be
// working on the same slots; faults on neighbouring slots of the same
// directory are unaffected (the one exception, MADV_DONTNEED inside one
// area under its read lock, empties slots with compare-and-swap).
//
// A write fault on a private page decides between writing into it in place
// and installing a copy; the two decisions, made by different faults on the
// same slot, are ordered by the slot's page-table lock (Table.PTL, the
// kernel's split PTE lock): a copy is installed only if, under the lock,
// the slot still holds the page and the page is still shared; a page that
// was ever shared (Page.WasShared) is reused only after the same check
// under the lock. The lock is a leaf: nothing else is taken while it is
// held.
package pagetable

import (
	"encoding/binary"
	"sync/atomic"
)

// WordsPerPage is the number of 64-bit words in a 4 KiB page.
const WordsPerPage = 4096 / 8

// Page is one page of memory. Its contents are 64-bit words accessed
// atomically, so that byte reads and writes racing on the same page are
// well defined (each byte access is linearizable) and the race detector
// stays quiet, as real memory would be.
type Page struct {
	// maps counts the table slots that point at this page. A private
	// page mapped more than once (after Fork) is copied on write.
	maps atomic.Int32

	// Shared marks a page of a shared mapping: it is never copied on
	// write. Immutable after the page is published.
	Shared bool

	// clean marks a page whose data reclaim may drop instead of keeping:
	// a private page given up with MADV_FREE and not written since (the
	// kernel's lazyfree folio: !PG_swapbacked and a clean PTE), or a page
	// of a shared object never written (a clean shmem folio, all zeroes).
	// Set by MADV_FREE under the space write lock with the covering area
	// write-locked, or on a shared page before it is published; cleared
	// by write faults under an area read lock. Atomic.
	clean atomic.Bool

	// wasShared is set whenever a second mapping is added (Get) and
	// cleared only by a write fault that, holding the slot's page-table
	// lock, finds the page mapped by its slot alone (ForgetShared). While
	// it is clear no write fault can be copying the page: a copier starts
	// only on a page mapped more than once. So a write fault may reuse a
	// page with the flag clear without the page-table lock. Atomic.
	wasShared atomic.Bool

	// words are the contents, inline: a Page holds no pointer, so its
	// allocation needs no malloc header and the garbage collector never
	// scans its 4 KiB (measured: the header write on the first use of a
	// fresh 4,864-byte object with a pointer was 22% of the fault
	// benchmark's profile).
	words [WordsPerPage]atomic.Uint64
}

// NewPage returns a zero-filled page with one mapping.
func NewPage() *Page {
	p := new(Page)
	p.maps.Store(1)
	return p
}

// zero is the shared zero page (the kernel's ZERO_PAGE): read faults on
// private anonymous memory map it instead of allocating, and a later write
// replaces it with a private page.
var zero = func() *Page {
	p := NewPage()
	p.maps.Store(1 << 30) // never reaches 0, never exclusive
	return p
}()

// Zero returns the shared zero page.
func Zero() *Page { return zero }

// IsZero reports whether p is the shared zero page.
func (p *Page) IsZero() bool { return p == zero }

// guard is the marker a guard region leaves in a slot (the kernel's
// PTE_MARKER_GUARD, MADV_GUARD_INSTALL): not a page, and no data, but it
// fills the slot, so the fault path must test for it before using the
// page. Its mapping count, like the zero page's, never reaches 0 or 1.
var guard = func() *Page {
	p := &Page{}
	p.maps.Store(1 << 30)
	return p
}()

// Guard returns the guard-region marker.
func Guard() *Page { return guard }

// IsGuard reports whether p is the guard-region marker.
func (p *Page) IsGuard() bool { return p == guard }

// MarkClean marks p as droppable by reclaim until it is written: given
// up with MADV_FREE (folio_mark_lazyfree), or a new page of a shared
// object.
func (p *Page) MarkClean() { p.clean.Store(true) }

// Clean reports whether p may be dropped by reclaim.
func (p *Page) Clean() bool { return p.clean.Load() }

// Redirty clears the clean mark: a write makes the page's data count (the
// dirty bit reclaim tests).
func (p *Page) Redirty() {
	if p.clean.Load() {
		p.clean.Store(false)
	}
}

// Maps returns the number of slots pointing at p.
func (p *Page) Maps() int32 { return p.maps.Load() }

// Get adds a mapping of p (a slot now points at it). The page is marked
// shared first, so that anyone who sees the new count sees the mark.
func (p *Page) Get() {
	p.wasShared.Store(true)
	p.maps.Add(1)
}

// WasShared reports whether p may have been mapped more than once since
// ForgetShared last ran: a write fault elsewhere may then be copying it,
// and reusing it needs the page-table lock.
func (p *Page) WasShared() bool { return p.wasShared.Load() }

// ForgetShared clears the mark WasShared reports.
// Precondition: the caller holds the page-table lock of the one slot that
// maps p, has seen Maps() == 1 under it, and holds a lock that keeps the
// slot's space from forking (an area read lock), so the count cannot rise.
func (p *Page) ForgetShared() { p.wasShared.Store(false) }

// Put drops a mapping of p.
func (p *Page) Put() { p.maps.Add(-1) }

// Exclusive reports whether exactly one slot maps p, so a private write
// may reuse it in place (the kernel's wp_page_reuse test).
func (p *Page) Exclusive() bool { return p.maps.Load() == 1 }

// ByteAt returns the byte at offset off in the page.
func (p *Page) ByteAt(off uint64) byte {
	w := p.words[off/8].Load()
	return byte(w >> (8 * (off % 8)))
}

// SetByte stores v at offset off in the page. p must not be the zero page.
func (p *Page) SetByte(off uint64, v byte) {
	shift := 8 * (off % 8)
	mask := uint64(0xff) << shift
	w := &p.words[off/8]
	for {
		old := w.Load()
		nw := old&^mask | uint64(v)<<shift
		if old == nw || w.CompareAndSwap(old, nw) {
			return
		}
	}
}

// ReadAll copies the page's contents into buf (at least 4 KiB), a word at
// a time.
func (p *Page) ReadAll(buf []byte) {
	for i := range p.words {
		binary.LittleEndian.PutUint64(buf[8*i:], p.words[i].Load())
	}
}

// Copy returns a new private page with p's contents and one mapping.
func (p *Page) Copy() *Page {
	n := NewPage()
	for i := range p.words {
		n.words[i].Store(p.words[i].Load())
	}
	return n
}

// Load copies the page's contents into dst (at most a page).
func (p *Page) Load(dst []byte) {
	for i := range dst[:min(len(dst), PageBytes)] {
		dst[i] = p.ByteAt(uint64(i))
	}
}

// Store copies src (at most a page) to the start of the page. p must be
// private to the caller (not yet published) or the caller must accept
// byte-wise tearing, as a write(2) racing with loads has.
func (p *Page) Store(src []byte) {
	src = src[:min(len(src), PageBytes)]
	for i := 0; i < len(src); i += 8 {
		var w uint64
		for j := 0; j < 8 && i+j < len(src); j++ {
			w |= uint64(src[i+j]) << (8 * j)
		}
		if i+8 <= len(src) {
			p.words[i/8].Store(w)
			continue
		}
		for j := 0; i+j < len(src); j++ {
			p.SetByte(uint64(i+j), src[i+j])
		}
	}
}

// PageBytes is the size of a page in bytes.
const PageBytes = WordsPerPage * 8
