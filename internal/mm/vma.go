package mm

import (
	"syscall"

	"github.com/vmspace/vmspace/internal/tree"
)

// This file holds the split and merge steps that every layout change is
// made of, after mm/vma.c.

// areaAt returns the area starting exactly at addr in the session's view.
func (x *session) areaAt(addr uint64) *Area {
	if it, ok := x.view().First(addr); ok && it.Start == addr {
		return it.Val.a
	}
	return nil
}

// areaEndingAt returns the area ending exactly at addr.
func (x *session) areaEndingAt(addr uint64) *Area {
	if it, ok := x.view().Last(addr); ok && it.End == addr {
		return it.Val.a
	}
	return nil
}

// split cuts a at addr (__split_vma). With newBelow the new area takes
// the part below addr and a keeps the rest; otherwise the new area takes
// the part from addr up. Both are write-locked. It returns the new area.
func (x *session) split(a *Area, addr uint64, newBelow bool) (*Area, error) {
	x.lockArea(a)
	old := stateOf(a)
	lo, hi := old, old
	lo.end = addr
	hi.start = addr
	hi.pgoff = old.pgoff + (addr-old.start)>>pageShift
	var n *Area
	if newBelow {
		n = x.newArea(lo)
		x.set(a, hi)
		if err := x.store(old.start, old.end, n, a); err != nil {
			return nil, err
		}
	} else {
		n = x.newArea(hi)
		x.set(a, lo)
		if err := x.store(old.start, old.end, a, n); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// splitAllowed is split_vma's check against the area limit.
func (x *session) splitAllowed() bool {
	return x.s.maxAreas == 0 || x.view().Len() < x.s.maxAreas
}

// mergeReq is a proposed merge (the kernel's vma_merge_struct).
type mergeReq struct {
	start, end uint64
	pgoff      uint64
	flags      Flags
	anon       *anonVMA
	shm        *shmObject
	middle     *Area // the existing area being changed; nil for a new range
	prev, next *Area
}

func (m *mergeReq) pages() uint64 { return (m.end - m.start) >> pageShift }

// hadUncowedParents: a's anon_vma chain holds a parent's (after Fork), so
// sharing or handing over its anon_vma would mix pages of two processes'
// histories (vma_had_uncowed_parents).
func hadUncowedParents(a *Area) bool {
	return a != nil && a.anon.Load() != nil && a.anonChain > 1
}

// mergeableAnon is is_mergeable_anon_vma: tgt is the neighbour that would
// absorb the range, src the area the range comes from (nil for a new one).
func (m *mergeReq) mergeableAnon(tgt *Area) bool {
	tgtAnon := tgt.anon.Load()
	switch {
	case tgtAnon == nil && m.anon != nil:
		return !hadUncowedParents(m.middle)
	case tgtAnon != nil && m.anon == nil:
		return !hadUncowedParents(tgt)
	}
	return m.anon == tgtAnon
}

// mergeableWith is is_mergeable_vma plus the anon_vma test.
func (m *mergeReq) mergeableWith(v *Area) bool {
	return (v.flags^m.flags)&^vmIgnoreMerge == 0 && v.shm == m.shm && m.mergeableAnon(v)
}

// canMergeLeft: the range can join prev (can_vma_merge_left/after).
func (m *mergeReq) canMergeLeft() bool {
	p := m.prev
	return p != nil && p.end == m.start && m.mergeableWith(p) && p.pgoff+p.pages() == m.pgoff
}

// canMergeRight: the range can join next (can_vma_merge_right/before). If
// it also joins prev, prev and next must be compatible with each other.
func (m *mergeReq) canMergeRight(left bool) bool {
	n := m.next
	if n == nil || m.end != n.start || !m.mergeableWith(n) || n.pgoff != m.pgoff+m.pages() {
		return false
	}
	if !left {
		return true
	}
	pa, na := m.prev.anon.Load(), n.anon.Load()
	return pa == nil || na == nil || pa == na
}

// dupAnon gives dst src's anon_vma if dst has none (dup_anon_vma).
func (x *session) dupAnon(dst, src *Area) {
	if av := src.anon.Load(); av != nil && dst.anon.Load() == nil {
		x.modify(dst)
		dst.anon.Store(av)
		dst.anonChain = src.anonChain
	}
}

// mergeNew tries to place the new range of m into its neighbours
// (vma_merge_new_range). It returns the area now covering the range, or
// nil if no merge applies.
func (x *session) mergeNew(m *mergeReq) (*Area, error) {
	if m.prev == nil && m.next == nil {
		return nil, nil
	}
	left := m.canMergeLeft()
	right := m.canMergeRight(left)
	switch {
	case left && right:
		p, n := m.prev, m.next
		x.lockArea(p)
		x.lockArea(n)
		lo, hi := p.start, n.end
		x.dupAnon(p, n)
		x.remove(n)
		st := stateOf(p)
		st.end = hi
		x.set(p, st)
		return p, x.store(lo, hi, p)
	case left:
		p := m.prev
		x.lockArea(p)
		st := stateOf(p)
		st.end = m.end
		x.set(p, st)
		return p, x.store(p.start, m.end, p)
	case right:
		n := m.next
		x.lockArea(n)
		hi := n.end
		st := stateOf(n)
		st.start, st.pgoff = m.start, m.pgoff
		x.set(n, st)
		return n, x.store(m.start, hi, n)
	}
	return nil, nil
}

// mergeExisting tries to merge the range [m.start, m.end) of m.middle,
// about to get flags m.flags, into its neighbours (vma_merge_existing_range).
// It returns the area now covering the range, or nil.
func (x *session) mergeExisting(m *mergeReq) (*Area, error) {
	mid := m.middle
	leftSide := m.start == mid.start
	rightSide := m.end == mid.end
	if !leftSide && !rightSide {
		return nil, nil
	}
	left := leftSide && m.canMergeLeft()
	right := false
	if rightSide {
		m.next = x.areaAt(mid.end)
		right = m.canMergeRight(left)
	}
	if !left && !right {
		return nil, nil
	}
	deleteMiddle := leftSide && rightSide
	x.lockArea(mid)
	p, n := m.prev, m.next
	if right {
		x.lockArea(n)
	}
	if left {
		x.lockArea(p)
	}
	switch {
	case left && right:
		// prev absorbs middle and next.
		lo, hi := p.start, n.end
		x.dupAnon(p, n)
		x.dupAnon(p, mid)
		x.remove(mid)
		x.remove(n)
		st := stateOf(p)
		st.end = hi
		x.set(p, st)
		return p, x.store(lo, hi, p)
	case left:
		// prev grows to m.end; middle goes or shrinks from below.
		lo, hi := p.start, mid.end
		x.dupAnon(p, mid)
		st := stateOf(p)
		st.end = m.end
		x.set(p, st)
		if deleteMiddle {
			x.remove(mid)
			return p, x.store(lo, hi, p)
		}
		ms := stateOf(mid)
		ms.pgoff += (m.end - ms.start) >> pageShift
		ms.start = m.end
		x.set(mid, ms)
		return p, x.store(lo, hi, p, mid)
	default:
		// next grows down to m.start; middle goes or shrinks from above.
		lo, hi := mid.start, n.end
		x.dupAnon(n, mid)
		ns := stateOf(n)
		ns.pgoff -= (n.start - m.start) >> pageShift
		ns.start = m.start
		x.set(n, ns)
		if deleteMiddle {
			x.remove(mid)
			return n, x.store(lo, hi, n)
		}
		ms := stateOf(mid)
		ms.end = m.start
		x.set(mid, ms)
		return n, x.store(lo, hi, mid, n)
	}
}

// unmapRange removes [start, end) from the layout (vms_gather_munmap_vmas
// and the tree clear of do_vmi_align_munmap): areas straddling the edges
// are split, every area inside is write-locked and detached after its
// readers drain, the tree range is cleared, and the pages go at commit.
// On error the caller aborts the session, which attaches the areas again.
func (x *session) unmapRange(start, end uint64) error {
	it, ok := x.view().First(start)
	if !ok || it.Start >= end {
		return nil
	}
	first := it.Val.a
	if first.start < start {
		// Splitting one area into three needs room for one more.
		if end < first.end && !x.splitAllowed() {
			return syscall.ENOMEM
		}
		if _, err := x.split(first, start, true); err != nil {
			return err
		}
	}
	if it, ok := x.view().Find(end - 1); ok && it.End > end {
		if _, err := x.split(it.Val.a, end, false); err != nil {
			return err
		}
	}
	// The areas to go, collected in the session's reused buffer so that an
	// unmap allocates nothing.
	gone := x.gone[:0]
	x.view().Ascend(start, func(it tree.Item[entry]) bool {
		if it.Start >= end {
			return false
		}
		gone = append(gone, it.Val.a)
		return true
	})
	for _, a := range gone {
		x.remove(a)
	}
	clear(gone)
	x.gone = gone[:0]
	if err := x.txn.Replace(start, end, nil); err != nil {
		return err
	}
	x.clearPages(start, end)
	return nil
}
