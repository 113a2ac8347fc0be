package pagetable

import (
	"sync"
	"sync/atomic"
)

const (
	bits   = 9
	fanout = 1 << bits
	mask   = fanout - 1
)

// leaf is the last level: one slot per page.
type leaf struct {
	slots [fanout]atomic.Pointer[Page]
}

// dir is an inner level. At the lowest inner level only leaves is used,
// above it only dirs; keeping both arrays costs 4 KiB per directory, and
// there are few directories (one per GiB of touched address space at the
// lowest inner level).
type dir struct {
	dirs   [fanout]atomic.Pointer[dir]
	leaves [fanout]atomic.Pointer[leaf]
}

// Table maps page numbers (address offset from the space's base, shifted
// by the page size) to pages. Safe for concurrent use under the rules in
// the package comment.
type Table struct {
	root  dir
	depth int // inner levels (>= 1)

	// ptl are the page-table locks (the kernel's split PTE locks, one
	// per page-table page): a slot's lock is its leaf's, striped over a
	// fixed array so that leaves need no room for one (a leaf is exactly
	// 4 KiB, and 8 bytes more would put it in the next size class).
	ptl [ptlStripes]paddedMutex
}

// ptlStripes is the number of page-table locks per table.
const ptlStripes = 64

// paddedMutex keeps neighbouring locks off each other's cache line.
type paddedMutex struct {
	sync.Mutex
	_ [64 - 8]byte
}

// PTL returns the page-table lock of page number pn's slot (pte_lockptr).
// Faults take it to decide between reusing a page in place and installing
// a copy, so that neither decision is made on a state the other changed
// (see the package mm's fault path). It is a leaf of the lock order: no
// other lock is taken while holding it.
func (t *Table) PTL(pn uint64) *sync.Mutex {
	return &t.ptl[(pn>>bits)%ptlStripes].Mutex
}

// New returns a table for page numbers below 1<<pageBits.
func New(pageBits uint) *Table {
	d := 1
	for covered := uint(2 * bits); covered < pageBits; covered += bits {
		d++
	}
	return &Table{depth: d}
}

func (t *Table) leafFor(pn uint64, create bool) *leaf {
	d := &t.root
	for lvl := t.depth; lvl > 1; lvl-- {
		i := (pn >> (bits * uint(lvl))) & mask
		next := d.dirs[i].Load()
		if next == nil {
			if !create {
				return nil
			}
			n := new(dir)
			if !d.dirs[i].CompareAndSwap(nil, n) {
				n = d.dirs[i].Load()
			}
			next = n
		}
		d = next
	}
	i := (pn >> bits) & mask
	l := d.leaves[i].Load()
	if l == nil && create {
		n := new(leaf)
		if !d.leaves[i].CompareAndSwap(nil, n) {
			n = d.leaves[i].Load()
		}
		l = n
	}
	return l
}

// Slot returns the slot for page number pn, creating directory levels as
// needed. The slot stays valid for the life of the table.
func (t *Table) Slot(pn uint64) *atomic.Pointer[Page] {
	return &t.leafFor(pn, true).slots[pn&mask]
}

// Lookup returns the page mapped at pn, or nil. It never allocates.
func (t *Table) Lookup(pn uint64) *Page {
	l := t.leafFor(pn, false)
	if l == nil {
		return nil
	}
	return l.slots[pn&mask].Load()
}

// Range calls fn for every present slot with page number in [lo, hi), in
// order. Absent directories are skipped whole, so sparse tables over huge
// ranges are cheap to walk.
func (t *Table) Range(lo, hi uint64, fn func(pn uint64, slot *atomic.Pointer[Page])) {
	if lo >= hi {
		return
	}
	t.rangeDir(&t.root, t.depth, 0, lo, hi, fn)
}

// rangeDir walks directory d at level lvl whose first page number is base.
func (t *Table) rangeDir(d *dir, lvl int, base, lo, hi uint64, fn func(uint64, *atomic.Pointer[Page])) {
	span := uint64(1) << (bits * uint(lvl)) // pages covered by one entry of d
	first := uint64(0)
	if lo > base {
		first = (lo - base) / span
	}
	for i := first; i < fanout; i++ {
		eb := base + i*span
		if eb >= hi {
			return
		}
		if lvl > 1 {
			if c := d.dirs[i].Load(); c != nil {
				t.rangeDir(c, lvl-1, eb, lo, hi, fn)
			}
			continue
		}
		l := d.leaves[i].Load()
		if l == nil {
			continue
		}
		from := max(lo, eb)
		to := min(hi, eb+fanout)
		for q := from; q < to; q++ {
			s := &l.slots[q&mask]
			if s.Load() != nil {
				fn(q, s)
			}
		}
	}
}

// Clear empties the slots in [lo, hi), dropping their mappings. It returns
// the number of pages removed.
// Precondition: no fault can reach these slots (see the package comment).
func (t *Table) Clear(lo, hi uint64) int {
	n := 0
	t.Range(lo, hi, func(_ uint64, s *atomic.Pointer[Page]) {
		if p := s.Swap(nil); p != nil {
			p.Put()
			n++
		}
	})
	return n
}

// Move moves the pages in [from, from+n) to [to, to+n) (mremap's
// move_page_tables). Destination slots must be empty.
func (t *Table) Move(from, to, n uint64) {
	t.Range(from, from+n, func(pn uint64, s *atomic.Pointer[Page]) {
		if p := s.Swap(nil); p != nil {
			t.Slot(to + (pn - from)).Store(p)
		}
	})
}
