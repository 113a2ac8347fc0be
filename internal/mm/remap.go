package mm

import (
	"errors"
	"syscall"

	"github.com/vmspace/vmspace/internal/tree"
)

// RemapFlags are mremap's MREMAP_* flags, with Linux's values.
type RemapFlags uint32

const (
	// RemapMayMove lets the mapping move when it cannot grow in place.
	RemapMayMove RemapFlags = 1
	// RemapFixed moves the mapping to newAddr, replacing what was there;
	// it needs RemapMayMove.
	RemapFixed RemapFlags = 2
	// RemapDontUnmap moves the pages and leaves the source area in place,
	// empty; it needs RemapMayMove and an unchanged size.
	RemapDontUnmap RemapFlags = 4

	remapValid = RemapMayMove | RemapFixed | RemapDontUnmap
)

// remapKind classifies a remap (enum mremap_type).
type remapKind uint8

const (
	remapNoResize remapKind = iota
	remapShrink
	remapExpand
)

// remapReq is one mremap call as it goes (struct vma_remap_struct): the
// fields change as the call splits into steps.
type remapReq struct {
	addr, oldLen, newLen uint64
	flags                RemapFlags
	newAddr              uint64

	a        *Area // the source area, looked up under the space lock
	delta    uint64
	kind     remapKind
	populate bool // a locked area grew: fault the new part in (populate_expand)
}

func pageAlign(n uint64) uint64 { return (n + pageMask) &^ pageMask }

// impliesNewAddr: the call names its target (vrm_implies_new_addr).
func (r *remapReq) impliesNewAddr() bool { return r.flags&(RemapFixed|RemapDontUnmap) != 0 }

// Remap resizes and moves mappings (mremap). Without flags the range
// [addr, addr+oldLen) shrinks in place (its tail is unmapped) or grows in
// place, and ENOMEM says the space after it is taken; RemapMayMove lets a
// growing mapping move to a free range; RemapFixed moves it to newAddr
// (unmapping what was there, as MAP_FIXED does); RemapDontUnmap leaves
// the source area in place with its pages gone. A move of an unchanged
// size to a fixed address may span several areas and the holes between
// them, provided it starts in an area (Linux 6.17). Pages move with the
// mapping; the moved area merges with its new neighbours as Linux's
// copy_vma merges it. Errors are Linux's, in Linux's order.
func (s *Space) Remap(addr, oldLen, newLen uint64, flags RemapFlags, newAddr uint64) (uint64, error) {
	r := remapReq{addr: addr, oldLen: pageAlign(oldLen), newLen: pageAlign(newLen), flags: flags, newAddr: newAddr}
	if err := s.checkRemapParams(&r); err != nil {
		return 0, err
	}
	x := s.begin()
	if s.closed {
		x.abort()
		x.end()
		return 0, ErrClosed
	}
	res, err := s.remapLocked(x, &r)
	var vmf Flags
	if err == nil && r.populate {
		vmf = r.a.flags
	}
	// Linux leaves what an error interrupted as it is (a target unmapped,
	// the first areas of a span moved); an injected tree failure undoes
	// everything instead.
	if err != nil && errors.Is(err, tree.ErrNoMem) {
		x.abort()
	} else {
		x.commit()
	}
	x.end()
	if err != nil {
		return 0, err
	}
	if r.populate {
		// A locked area grew: fault the new part in, as mlock would
		// (do_mremap's mm_populate after the lock is dropped).
		s.populate(r.newAddr+r.oldLen, r.newAddr+r.oldLen+r.delta, vmf)
	}
	return res, nil
}

// checkRemapParams checks what needs no lock (check_mremap_params).
func (s *Space) checkRemapParams(r *remapReq) error {
	switch {
	case r.flags&^remapValid != 0, r.addr&pageMask != 0, r.newLen == 0, r.newLen > s.end:
		return syscall.EINVAL
	case !r.impliesNewAddr():
		return nil
	case r.newAddr > s.end-r.newLen, r.newAddr&pageMask != 0, r.flags&RemapMayMove == 0:
		return syscall.EINVAL
	case r.flags&RemapDontUnmap != 0 && r.oldLen != r.newLen:
		return syscall.EINVAL
	case r.addr+r.oldLen > r.newAddr && r.newAddr+r.newLen > r.addr:
		return syscall.EINVAL // the target overlaps the source (vrm_overlaps)
	}
	return nil
}

// remapLocked is do_mremap under the space write lock.
func (s *Space) remapLocked(x *session, r *remapReq) (uint64, error) {
	if r.impliesNewAddr() && s.maxAreas > 0 && x.view().Len()+2 >= s.maxAreas-3 {
		// Both ranges may be split in three before anything can fail
		// (check_mremap_params' map count test).
		return 0, syscall.ENOMEM
	}
	if r.flags&RemapFixed != 0 && r.oldLen == r.newLen {
		return x.remapMove(r)
	}
	r.a = x.areaCovering(r.addr)
	if err := x.checkPrepArea(r); err != nil {
		return 0, err
	}
	if r.impliesNewAddr() {
		return x.remapTo(r)
	}
	return x.remapAt(r)
}

// areaCovering returns the area containing addr in the session's view
// (vma_lookup), or nil.
func (x *session) areaCovering(addr uint64) *Area {
	if it, ok := x.view().Find(addr); ok {
		return it.Val.a
	}
	return nil
}

// checkPrepArea checks the call against its source area (check_prep_vma).
func (x *session) checkPrepArea(r *remapReq) error {
	a := r.a
	if a == nil {
		return syscall.EFAULT
	}
	switch {
	case r.oldLen == r.newLen:
		r.kind, r.delta = remapNoResize, 0
	case r.oldLen > r.newLen:
		r.kind, r.delta = remapShrink, r.oldLen-r.newLen
	default:
		r.kind, r.delta = remapExpand, r.newLen-r.oldLen
	}
	if !r.impliesNewAddr() {
		r.newAddr = r.addr
	}
	if r.kind != remapExpand && !r.impliesNewAddr() {
		return nil // nothing new gets mapped
	}
	oldLen := r.oldLen
	if oldLen == 0 && a.flags&(VMShared|VMMayShare) == 0 {
		// "Duplicating" a private mapping makes no sense.
		return syscall.EINVAL
	}
	if r.kind == remapShrink {
		oldLen = r.newLen // the part being unmapped may span areas
	}
	if oldLen > a.end-r.addr {
		return syscall.EFAULT // the source runs past its area
	}
	if r.newLen == oldLen {
		return nil
	}
	if a.flags&VMLocked != 0 {
		r.populate = true
	}
	if pg := a.pgoff + (r.addr-a.start)>>pageShift; pg+r.newLen>>pageShift < pg {
		return syscall.EINVAL
	}
	return nil
}

// remapAt resizes in place, moving only a growing mapping that cannot
// grow where it is and may move (mremap_at, expand_vma).
func (x *session) remapAt(r *remapReq) (uint64, error) {
	switch r.kind {
	case remapNoResize:
		return r.addr, nil
	case remapShrink:
		if err := x.munmapLocked(r.addr+r.newLen, r.delta); err != nil {
			return 0, err
		}
		return r.addr, nil
	}
	if x.canExpandInPlace(r) {
		return r.addr, x.expandInPlace(r)
	}
	if r.flags&RemapMayMove == 0 {
		return 0, syscall.ENOMEM
	}
	if err := x.setNewAddr(r); err != nil {
		return 0, err
	}
	return x.moveArea(r)
}

// remapTo moves to a named target (mremap_to): a fixed target is unmapped
// first, a shrinking source loses its tail first, then the rest moves.
func (x *session) remapTo(r *remapReq) (uint64, error) {
	if r.flags&RemapFixed != 0 {
		if err := x.munmapLocked(r.newAddr, r.newLen); err != nil {
			return 0, err
		}
		if r.a = x.areaCovering(r.addr); r.a == nil {
			return 0, syscall.EFAULT
		}
	}
	if r.kind == remapShrink {
		if err := x.munmapLocked(r.addr+r.newLen, r.delta); err != nil {
			return 0, err
		}
		if r.a = x.areaCovering(r.addr); r.a == nil {
			return 0, syscall.EFAULT
		}
		r.oldLen = r.newLen
	}
	if err := x.setNewAddr(r); err != nil {
		return 0, err
	}
	return x.moveArea(r)
}

// remapMove moves [addr, addr+oldLen) to the fixed newAddr without
// resizing, area by area, keeping the holes between areas (remap_move,
// Linux 6.17). The range must start in an area; an error stops the walk
// with the areas before it already moved.
func (x *session) remapMove(r *remapReq) (uint64, error) {
	start, end := r.addr, r.addr+r.oldLen
	target, cursor := r.newAddr, start
	var res, lastEnd uint64
	seen := false
	// The walk goes on from the end the last area had when it was found
	// (the maple tree iterator's paused index), whatever merges did since.
	for cursor < end {
		it, ok := x.view().First(cursor)
		if !ok || it.Start >= end {
			break
		}
		a := it.Val.a
		if !seen && start < a.start {
			return 0, syscall.EFAULT // a hole at the start
		}
		offset := uint64(0)
		if seen {
			offset = a.start - lastEnd
		}
		lastEnd, cursor = a.end, a.end
		piece := max(a.start, start)
		*r = remapReq{addr: piece, oldLen: min(end, a.end) - piece, flags: r.flags, newAddr: target + offset, a: a}
		r.newLen = r.oldLen
		if err := x.checkPrepArea(r); err != nil {
			return 0, err
		}
		got, err := x.remapTo(r)
		if err != nil {
			return 0, err
		}
		if !seen {
			res = got
		}
		seen = true
		target = got + r.newLen
	}
	if !seen {
		return 0, syscall.EFAULT
	}
	return res, nil
}

// munmapLocked is do_munmap inside a session, with munmap's checks.
func (x *session) munmapLocked(start, length uint64) error {
	s := x.s
	if start&pageMask != 0 || start > s.end || length > s.end-start {
		return syscall.EINVAL
	}
	if length = pageAlign(length); length == 0 {
		return syscall.EINVAL
	}
	return x.unmapRange(start, start+length)
}

// canExpandInPlace: the range ends where its area ends and the space
// after it is free (vrm_can_expand_in_place, vma_expandable).
func (x *session) canExpandInPlace(r *remapReq) bool {
	a := r.a
	if a.end-r.addr != r.oldLen {
		return false
	}
	end := a.end + r.delta
	if end < a.end || end > x.s.end {
		return false
	}
	it, ok := x.view().First(a.end)
	return !ok || it.Start >= end
}

// expandInPlace grows the area by delta and merges it with the next one
// if they now touch and are compatible (expand_vma_in_place,
// vma_merge_extend: the extension is a new range merged into its prev).
func (x *session) expandInPlace(r *remapReq) error {
	a := r.a
	m := mergeReq{
		start: a.end, end: a.end + r.delta,
		pgoff: a.pgoff + a.pages(),
		flags: a.flags,
		anon:  a.anon.Load(),
		shm:   a.shm,
		prev:  a,
	}
	m.next = x.areaAt(m.end)
	n, err := x.mergeNew(&m)
	if err == nil && n == nil {
		panic("mm: an area does not merge with its own extension")
	}
	if n != nil {
		r.a = n
	}
	return err
}

// setNewAddr picks the target of a move (vrm_set_new_addr): the fixed
// address, or a free range, with newAddr as a hint under RemapDontUnmap
// and none otherwise.
func (x *session) setNewAddr(r *remapReq) error {
	if r.flags&RemapFixed != 0 {
		return nil
	}
	hint := uint64(0)
	if r.impliesNewAddr() {
		hint = x.s.roundHint(r.newAddr)
	}
	// vrm_set_new_addr asks get_unmapped_area with the area's file and
	// the page offset of the moved range.
	var f File
	pgoff := r.a.pgoff + (r.addr-r.a.start)>>pageShift
	if r.a.shm != nil {
		f = r.a.shm.file
	}
	addr, err := x.s.getUnmappedArea(x, hint, r.newLen, false, r.a.flags&VMMayShare != 0, r.a.flags, f, pgoff)
	if err != nil {
		return err
	}
	r.newAddr = addr
	return nil
}
