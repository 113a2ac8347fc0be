package mm

import (
	"errors"
	"syscall"

	"github.com/vmspace/vmspace/internal/tree"
)

// Protect changes the protection of [addr, addr+length) (do_mprotect_pkey).
// Areas are split where the range cuts them and merged with neighbours
// that become compatible. As in Linux, a hole in the range fails with
// ENOMEM after the areas before the hole have already been changed.
func (s *Space) Protect(addr, length uint64, prot Prot) error {
	if addr&pageMask != 0 {
		return syscall.EINVAL
	}
	if length == 0 {
		return nil
	}
	length = (length + pageMask) &^ pageMask
	end := addr + length
	if end <= addr {
		return syscall.ENOMEM
	}
	if prot&^protMask != 0 {
		return syscall.EINVAL
	}
	x := s.begin()
	defer x.end()
	if s.closed {
		x.abort()
		return ErrClosed
	}
	err, keep := s.protectLocked(x, addr, end, prot)
	if keep {
		x.commit()
	} else {
		x.abort()
	}
	return err
}

// protectLocked applies prot area by area. keep says whether the session's
// changes stand (they do on success and on Linux's partial application
// before a hole, not on an injected failure).
func (s *Space) protectLocked(x *session, start, end uint64, prot Prot) (err error, keep bool) {
	it, ok := x.view().First(start)
	if !ok || it.Start >= end || it.Start > start {
		return syscall.ENOMEM, false
	}
	nstart := start
	for nstart < end {
		it, ok := x.view().First(nstart)
		if !ok || it.Start >= end {
			break
		}
		a := it.Val.a
		if a.start > nstart {
			return syscall.ENOMEM, true // a hole: what came before stays changed
		}
		tmp := min(a.end, end)
		newflags := Flags(prot) | a.flags&^vmAccessFlags
		// Each access bit needs its VM_MAY bit (four places up): a
		// read-only file mapped shared can never become writable.
		if newflags&^(newflags>>4)&vmAccessFlags != 0 {
			return syscall.EACCES, true
		}
		next, err := x.protectFixup(a, nstart, tmp, newflags)
		if err != nil {
			// The area limit stops Linux part-way with the earlier
			// areas changed; an injected allocation failure undoes all.
			return err, !errors.Is(err, tree.ErrNoMem)
		}
		nstart = next
	}
	if nstart < end {
		return syscall.ENOMEM, true
	}
	return nil, true
}

// protectFixup gives [start, end) of a the flags newflags, merging or
// splitting (mprotect_fixup). It returns the end of the area that now
// covers the range.
func (x *session) protectFixup(a *Area, start, end uint64, newflags Flags) (uint64, error) {
	old := a.flags
	if newflags == old {
		return a.end, nil
	}
	// Commit charge: making private memory writable charges it; making it
	// read-only again uncharges it only if no page was ever written.
	if newflags&VMWrite != 0 {
		if old&(VMAccount|VMWrite|VMShared|VMNoReserve) == 0 {
			newflags |= VMAccount
		}
	} else if old&VMAccount != 0 && a.shm == nil && a.anon.Load() == nil {
		// Only anonymous memory never written gives its charge back
		// (vma_is_anonymous && !anon_vma): a private file area keeps it.
		newflags &^= VMAccount
	}
	// Locked private memory made writable gets its COW broken at once,
	// before the next area is looked at (mprotect_fixup's
	// populate_vma_page_range): it gets an anon_vma, which counts for
	// the merges that follow.
	lockedWrite := old&(VMWrite|VMShared|VMLocked) == VMLocked && newflags&VMWrite != 0
	cov, err := x.modifyFlags(a, start, end, newflags)
	if err != nil {
		return 0, err
	}
	if lockedWrite {
		x.writeFaultLocked(cov, start, end)
	}
	return cov.end, nil
}
