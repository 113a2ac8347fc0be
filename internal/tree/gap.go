package tree

import "math"

// Gap search, the counterpart of the maple tree's gap tracking that Linux's
// unmapped_area{,_topdown} rely on.
//
// The free space is cut into gaps by the items: the gap before the first item,
// one between each pair of consecutive items, and one after the last item. A
// query clips every gap to [lo, hi) and looks for the highest (or lowest) one
// that still holds length bytes.
//
// Every internal node stores, per child, the largest gap between two items
// inside that child, and the child's first Start and last End, from which the
// gap between two neighbouring children follows. A search walks children in
// address order and enters a child only when its largest inner gap is big
// enough and the child's span overlaps [lo, hi) by at least length. A child that
// lies wholly inside [lo, hi) and passes that test is certain to hold an answer,
// so the only entries that can come back empty handed are the (at most two per
// level) children that contain lo or hi: the search is O(fanout * height).

// HighestGap returns the end of the highest free range of at least length bytes
// inside [lo, hi): [end-length, end) is free and lies inside [lo, hi), and no
// such range ends higher. A zero length never matches.
func (s Snapshot[V, C, P]) HighestGap(lo, hi, length uint64) (end uint64, ok bool) {
	if length == 0 || lo >= hi || hi-lo < length {
		return 0, false
	}
	r := s.root()
	if r.count == 0 {
		return hi, true
	}
	first, last := r.span()
	if e, ok := fitHigh(last, math.MaxUint64, lo, hi, length); ok {
		return e, true
	}
	if r.height == 0 {
		if e, ok := highLeaf(r.leaf, lo, hi, length); ok {
			return e, true
		}
	} else if e, ok := highInner(r.top, r.height, lo, hi, length); ok {
		return e, true
	}
	return fitHigh(0, first, lo, hi, length)
}

// LowestGap returns the lowest start >= lo such that [start, start+length) is
// free and start+length <= hi. A zero length never matches.
func (s Snapshot[V, C, P]) LowestGap(lo, hi, length uint64) (start uint64, ok bool) {
	if length == 0 || lo >= hi || hi-lo < length {
		return 0, false
	}
	r := s.root()
	if r.count == 0 {
		return lo, true
	}
	first, last := r.span()
	if a, ok := fitLow(0, first, lo, hi, length); ok {
		return a, true
	}
	if r.height == 0 {
		if a, ok := lowLeaf(r.leaf, lo, hi, length); ok {
			return a, true
		}
	} else if a, ok := lowInner(r.top, r.height, lo, hi, length); ok {
		return a, true
	}
	return fitLow(last, math.MaxUint64, lo, hi, length)
}

// span returns the Start of the first item and the End of the last one of a
// non-empty tree.
func (r *root[V, C, P]) span() (first, last uint64) {
	if r.height == 0 {
		return r.leaf.startAt(0), r.leaf.endAt(r.leaf.count() - 1)
	}
	return r.top.start[0].Load(), r.top.end[r.top.count()-1].Load()
}

// fitHigh clips the gap [a, b) to [lo, hi) and returns its end if length fits.
func fitHigh(a, b, lo, hi, length uint64) (uint64, bool) {
	a, b = max(a, lo), min(b, hi)
	if a < b && b-a >= length {
		return b, true
	}
	return 0, false
}

// fitLow clips the gap [a, b) to [lo, hi) and returns its start if length fits.
func fitLow(a, b, lo, hi, length uint64) (uint64, bool) {
	a, b = max(a, lo), min(b, hi)
	if a < b && b-a >= length {
		return a, true
	}
	return 0, false
}

// worthEntering reports whether the gaps inside a child with span [start, end)
// and largest inner gap gap can hold length bytes inside [lo, hi).
func worthEntering(start, end, gap, lo, hi, length uint64) bool {
	a, b := max(start, lo), min(end, hi)
	return gap >= length && a < b && b-a >= length
}

// highInner searches the gaps between the items of n's subtree, highest first.
func highInner[V any, C comparable, P Cell[C, V]](n *inner[V, C, P], h int, lo, hi, length uint64) (uint64, bool) {
	for i := n.count() - 1; i >= 0; i-- {
		s := n.sumAt(i)
		if worthEntering(s.start, s.end, s.gap, lo, hi, length) {
			var e uint64
			var ok bool
			if h == 1 {
				e, ok = highLeaf(n.leaves[i].Load(), lo, hi, length)
			} else {
				e, ok = highInner(n.kids[i].Load(), h-1, lo, hi, length)
			}
			if ok {
				return e, true
			}
		}
		if s.start <= lo {
			break // every gap further down ends at or below lo
		}
		if i > 0 {
			if e, ok := fitHigh(n.end[i-1].Load(), s.start, lo, hi, length); ok {
				return e, true
			}
		}
	}
	return 0, false
}

func highLeaf[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], lo, hi, length uint64) (uint64, bool) {
	for j := l.count() - 1; j > 0 && l.startAt(j) > lo; j-- {
		if e, ok := fitHigh(l.endAt(j-1), l.startAt(j), lo, hi, length); ok {
			return e, true
		}
	}
	return 0, false
}

// lowInner searches the gaps between the items of n's subtree, lowest first.
func lowInner[V any, C comparable, P Cell[C, V]](n *inner[V, C, P], h int, lo, hi, length uint64) (uint64, bool) {
	for i := 0; i < n.count(); i++ {
		s := n.sumAt(i)
		if i > 0 {
			pe := n.end[i-1].Load()
			if pe >= hi {
				break // every gap further up starts at or above hi
			}
			if a, ok := fitLow(pe, s.start, lo, hi, length); ok {
				return a, true
			}
		}
		if worthEntering(s.start, s.end, s.gap, lo, hi, length) {
			var a uint64
			var ok bool
			if h == 1 {
				a, ok = lowLeaf(n.leaves[i].Load(), lo, hi, length)
			} else {
				a, ok = lowInner(n.kids[i].Load(), h-1, lo, hi, length)
			}
			if ok {
				return a, true
			}
		}
	}
	return 0, false
}

func lowLeaf[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], lo, hi, length uint64) (uint64, bool) {
	for j := 1; j < l.count() && l.endAt(j-1) < hi; j++ {
		if a, ok := fitLow(l.endAt(j-1), l.startAt(j), lo, hi, length); ok {
			return a, true
		}
	}
	return 0, false
}
