package mm

import (
	"errors"
	"syscall"

	"github.com/vmspace/vmspace/internal/tree"
)

// moveArea moves [r.addr, r.addr+r.oldLen) of r.a to a new area of
// r.newLen bytes at r.newAddr (move_vma): the source is write-locked, the
// new area is made or merged into a neighbour (copy_vma), the pages move
// with it (move_page_tables, done at commit), and the source range is
// unmapped, or with RemapDontUnmap left in place, empty.
// Precondition: x is open; r passed checkPrepArea; the target is free.
func (x *session) moveArea(r *remapReq) (uint64, error) {
	s := x.s
	if s.maxAreas > 0 && x.view().Len() >= s.maxAreas-3 {
		return 0, syscall.ENOMEM // prep_move_vma: unmapping may split in three
	}
	x.lockArea(r.a) // no racing faults on the source
	srcStart := r.a.start
	n, err := x.copyArea(r)
	if err != nil {
		return 0, err
	}
	if srcStart >= n.start && srcStart < n.end {
		// The source merged into the new area: only possible for an
		// area never written, whose page offset followed it.
		r.a = n
	}
	x.movePages(r.addr, r.newAddr, r.oldLen)
	if r.flags&RemapDontUnmap != 0 {
		return r.newAddr, x.dontUnmapComplete(r, n)
	}
	// unmap_source_vma. Linux ignores a failure here (it only fixes its
	// accounting; an empty source, duplicating a shared mapping, fails
	// munmap's checks); an injected tree failure is undone with the
	// session.
	if err := x.munmapLocked(r.addr, r.oldLen); err != nil && errors.Is(err, tree.ErrNoMem) {
		return 0, err
	}
	return r.newAddr, nil
}

// copyArea gives the target range its area (copy_vma): a neighbour that
// can take it grows over it (vma_merge_copied_range), else a copy of the
// source's attributes is made there. The page offset continues the
// source's, except for a private area that was never written: it has no
// pages yet and takes the target address as its offset, so that it can
// merge there as a new mapping would.
func (x *session) copyArea(r *remapReq) (*Area, error) {
	src := r.a
	anon := src.anon.Load()
	pgoff := src.pgoff + (r.addr-src.start)>>pageShift
	if src.shm == nil && anon == nil { // vma_is_anonymous && !anon_vma
		pgoff = r.newAddr >> pageShift
	}
	end := r.newAddr + r.newLen
	if it, ok := x.view().First(r.newAddr); ok && it.Start < end {
		return nil, syscall.ENOMEM // "should never get here"
	}
	m := mergeReq{
		start: r.newAddr, end: end,
		pgoff: pgoff,
		flags: src.flags,
		anon:  anon,
		shm:   src.shm,
		// middle is the copied-from area: the range is new, but a merge
		// that hands the source's anon_vma to a neighbour is refused if
		// the source shares pages with a parent (is_mergeable_anon_vma's
		// copied_from test). mergeNew reads middle for nothing else.
		middle: src,
		prev:   x.areaEndingAt(r.newAddr),
		next:   x.areaAt(end),
	}
	n, err := x.mergeNew(&m)
	if err != nil {
		return nil, err
	}
	if n != nil {
		if anon != nil && n.anon.Load() == nil {
			// The moved pages keep their anon_vma: the area that took
			// them gets it too (vma_expand's dup_anon_vma of copied_from).
			x.modify(n)
			n.anon.Store(anon)
			n.anonChain = src.anonChain
		}
		return n, nil
	}
	st := stateOf(src) // vm_area_dup and anon_vma_clone: same anon_vma
	st.start, st.end, st.pgoff = r.newAddr, end, pgoff
	n = x.newArea(st)
	return n, x.store(r.newAddr, end, n)
}

// dontUnmapComplete finishes a RemapDontUnmap move (dontunmap_complete):
// the source area, now empty there, is no longer locked in memory, and if
// it moved whole it no longer needs its anon_vma (unlink_anon_vmas), which
// lets it merge as an area never written.
func (x *session) dontUnmapComplete(r *remapReq, n *Area) error {
	a := r.a
	st := stateOf(a)
	st.flags &^= VMLocked | VMLockOnFault
	if n != a && r.addr == a.start && r.addr+r.oldLen == a.end {
		st.anon, st.anonChain = nil, 0
	}
	if st == stateOf(a) {
		return nil
	}
	x.lockArea(a)
	x.set(a, st)
	return x.store(a.start, a.end, a) // the tree's copy of the flags
}
