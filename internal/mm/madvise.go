package mm

import (
	"errors"
	"syscall"

	"github.com/vmspace/vmspace/internal/tree"
)

// Advice is a madvise advice, with Linux's MADV_* value.
type Advice int

const (
	AdviseNormal         Advice = 0   // MADV_NORMAL: clear the read-ahead hints
	AdviseRandom         Advice = 1   // MADV_RANDOM: VM_RAND_READ
	AdviseSequential     Advice = 2   // MADV_SEQUENTIAL: VM_SEQ_READ
	AdviseWillNeed       Advice = 3   // MADV_WILLNEED: read ahead (nothing to do for anonymous memory)
	AdviseDontNeed       Advice = 4   // MADV_DONTNEED: drop the pages now
	AdviseFree           Advice = 8   // MADV_FREE: the pages may go at the next reclaim
	AdviseDontFork       Advice = 10  // MADV_DONTFORK: VM_DONTCOPY
	AdviseDoFork         Advice = 11  // MADV_DOFORK
	AdviseHugePage       Advice = 14  // MADV_HUGEPAGE: VM_HUGEPAGE
	AdviseNoHugePage     Advice = 15  // MADV_NOHUGEPAGE: VM_NOHUGEPAGE
	AdviseDontDump       Advice = 16  // MADV_DONTDUMP: VM_DONTDUMP
	AdviseDoDump         Advice = 17  // MADV_DODUMP
	AdviseWipeOnFork     Advice = 18  // MADV_WIPEONFORK: VM_WIPEONFORK (private memory only)
	AdviseKeepOnFork     Advice = 19  // MADV_KEEPONFORK
	AdviseCold           Advice = 20  // MADV_COLD: deactivate (no visible effect)
	AdvisePageout        Advice = 21  // MADV_PAGEOUT: reclaim now
	AdvisePopulateRead   Advice = 22  // MADV_POPULATE_READ: fault in for reading
	AdvisePopulateWrite  Advice = 23  // MADV_POPULATE_WRITE: fault in for writing
	AdviseDontNeedLocked Advice = 24  // MADV_DONTNEED_LOCKED: DONTNEED, allowed on locked memory
	AdviseGuardInstall   Advice = 102 // MADV_GUARD_INSTALL: accesses fault with SEGV_MAPERR
	AdviseGuardRemove    Advice = 103 // MADV_GUARD_REMOVE
)

// valid reports whether vmspace knows adv (madvise_behavior_valid, less
// the advice that needs files, KSM or hardware: those fail with EINVAL).
func (adv Advice) valid() bool {
	switch adv {
	case AdviseNormal, AdviseRandom, AdviseSequential, AdviseWillNeed, AdviseDontNeed,
		AdviseFree, AdviseDontFork, AdviseDoFork, AdviseHugePage, AdviseNoHugePage,
		AdviseDontDump, AdviseDoDump, AdviseWipeOnFork, AdviseKeepOnFork, AdviseCold,
		AdvisePageout, AdvisePopulateRead, AdvisePopulateWrite, AdviseDontNeedLocked,
		AdviseGuardInstall, AdviseGuardRemove:
		return true
	}
	return false
}

// Advise gives advice about [addr, addr+length) (madvise). An unaligned
// addr, an unknown advice or a range that wraps fails with EINVAL; a zero
// length does nothing. The areas in the range are advised one by one:
// holes are skipped and reported with ENOMEM at the end, after the mapped
// parts have been advised (unlike Protect); an area that refuses the
// advice stops the walk with its error, the areas before it advised.
// Advice that changes flags splits and merges areas as Protect does.
func (s *Space) Advise(addr, length uint64, adv Advice) error {
	l := pageAlign(length)
	if addr&pageMask != 0 || length != 0 && l == 0 || addr+l < addr || !adv.valid() {
		return syscall.EINVAL
	}
	if l == 0 {
		return nil
	}
	switch adv {
	case AdvisePopulateRead, AdvisePopulateWrite:
		return s.populateAdvice(addr, addr+l, adv == AdvisePopulateWrite)
	case AdviseDontNeed, AdviseDontNeedLocked, AdviseFree:
		if done, err := s.adviseUnderAreaLock(addr, addr+l, adv); done {
			return err
		}
	}
	x := s.begin()
	defer x.end()
	if s.closed {
		x.abort()
		return ErrClosed
	}
	err := x.adviseLocked(addr, addr+l, adv)
	if err != nil && errors.Is(err, tree.ErrNoMem) {
		x.abort() // an injected failure undoes the whole call
		return err
	}
	x.commit()
	return err
}

// adviseLocked walks the areas of [start, end) (madvise_walk_vmas).
func (x *session) adviseLocked(start, end uint64, adv Advice) error {
	var unmapped error
	for cursor := start; cursor < end; {
		it, ok := x.view().First(cursor)
		if !ok {
			return syscall.ENOMEM // nothing mapped from here on
		}
		a := it.Val.a
		if cursor < a.start {
			unmapped = syscall.ENOMEM // a hole: go on, but say so
			if cursor = a.start; cursor >= end {
				break
			}
		}
		next, err := x.adviseArea(a, cursor, min(a.end, end), adv)
		if err != nil {
			return err
		}
		cursor = next
	}
	return unmapped
}

// adviseArea applies adv to [start, end) of a (madvise_vma_behavior) and
// returns the end of the area that now covers the range.
func (x *session) adviseArea(a *Area, start, end uint64, adv Advice) (uint64, error) {
	// shared: the area maps an object (shmem or a file): it is not
	// vma_is_anonymous, which several advices require.
	shared := a.shm != nil
	switch adv {
	case AdviseWillNeed:
		return a.end, nil
	case AdviseCold, AdvisePageout:
		if a.flags&VMLocked != 0 {
			return 0, syscall.EINVAL // can_madv_lru_vma
		}
		if adv == AdvisePageout {
			x.lockArea(a)
			if shared {
				x.pageoutShared(a, start, end)
			} else {
				x.pageWork(opPageout, start, end)
			}
		}
		return a.end, nil
	case AdviseDontNeed, AdviseDontNeedLocked, AdviseFree:
		if adv != AdviseDontNeedLocked && a.flags&VMLocked != 0 {
			return 0, syscall.EINVAL // madvise_dontneed_free_valid_vma
		}
		kind := opZap
		if adv == AdviseFree {
			if shared {
				return 0, syscall.EINVAL // only anonymous memory can be freed lazily
			}
			kind = opLazyFree
		}
		x.lockArea(a)
		x.pageWork(kind, start, end)
		return a.end, nil
	case AdviseGuardInstall:
		if a.flags&VMLocked != 0 {
			return 0, syscall.EINVAL // is_valid_guard_vma: no zapping locked memory
		}
		// The range is no longer empty for the page tables, so an
		// anonymous area gets an anon_vma (and fork will copy its page
		// table); a shared or file one does not (it is not
		// vma_is_anonymous).
		if !shared {
			x.anonPrepareLocked(a)
		}
		x.lockArea(a)
		x.pageWork(opGuardInstall, start, end)
		return a.end, nil
	case AdviseGuardRemove:
		x.lockArea(a)
		x.pageWork(opGuardRemove, start, end)
		return a.end, nil
	}
	newflags := a.flags
	switch adv {
	case AdviseNormal:
		newflags &^= VMRandRead | VMSeqRead
	case AdviseSequential:
		newflags = newflags&^VMRandRead | VMSeqRead
	case AdviseRandom:
		newflags = newflags&^VMSeqRead | VMRandRead
	case AdviseDontFork:
		newflags |= VMDontCopy
	case AdviseDoFork:
		newflags &^= VMDontCopy
	case AdviseWipeOnFork:
		if shared {
			return 0, syscall.EINVAL // anonymous private memory only (no file)
		}
		newflags |= VMWipeOnFork
	case AdviseKeepOnFork:
		newflags &^= VMWipeOnFork
	case AdviseDontDump:
		newflags |= VMDontDump
	case AdviseDoDump:
		newflags &^= VMDontDump
	case AdviseHugePage:
		newflags = newflags&^VMNoHugePage | VMHugePage
	case AdviseNoHugePage:
		newflags = newflags&^VMHugePage | VMNoHugePage
	}
	cov, err := x.modifyFlags(a, start, end, newflags)
	if err != nil {
		if errors.Is(err, syscall.ENOMEM) && !errors.Is(err, tree.ErrNoMem) {
			err = syscall.EAGAIN // madvise's answer to a failed split
		}
		return 0, err
	}
	return cov.end, nil
}

// modifyFlags gives [start, end) of a the flags newflags, merging it into
// a neighbour or splitting a as needed (vma_modify_flags, as
// mprotect_fixup and madvise_update_vma use it). It returns the area that
// now covers the range.
// Precondition: x is open; [start, end) lies in a.
func (x *session) modifyFlags(a *Area, start, end uint64, newflags Flags) (*Area, error) {
	if newflags == a.flags {
		return a, nil
	}
	m := mergeReq{
		start: start, end: end,
		pgoff:  a.pgoff + (start-a.start)>>pageShift,
		flags:  newflags,
		anon:   a.anon.Load(),
		shm:    a.shm,
		middle: a,
		prev:   x.areaEndingAt(a.start),
	}
	merged, err := x.mergeExisting(&m)
	if err != nil || merged != nil {
		return merged, err
	}
	if a.start < start {
		if !x.splitAllowed() {
			return nil, syscall.ENOMEM
		}
		if _, err := x.split(a, start, true); err != nil {
			return nil, err
		}
	}
	if a.end > end {
		if !x.splitAllowed() {
			return nil, syscall.ENOMEM
		}
		if _, err := x.split(a, end, false); err != nil {
			return nil, err
		}
	}
	x.lockArea(a)
	st := stateOf(a)
	st.flags = newflags
	x.set(a, st)
	return a, x.store(a.start, a.end, a)
}

// anonPrepareLocked gives a an anon_vma inside a session
// (anon_vma_prepare under the space write lock): a neighbour's if it can
// be shared, as a first write fault would choose, else a new one. Undone
// if the session aborts.
func (x *session) anonPrepareLocked(a *Area) {
	if a.anon.Load() != nil {
		return
	}
	s := x.s
	x.lockArea(a)
	x.modify(a)
	s.ptl.Lock()
	defer s.ptl.Unlock()
	av := mergeableAnonIn(x.view(), a)
	if av == nil {
		av = newAnonVMA()
	}
	a.anonChain = 1
	a.anon.Store(av)
}

// populateAdvice faults [start, end) in (madvise_populate): page by page,
// for writing or reading, stopping at the first failure with the pages
// before it present. A page in no area fails with ENOMEM, an area whose
// protection forbids the access with EINVAL (check_vma_flags: a read needs
// VM_READ itself here), and a fault that fails (a guard marker, past the
// end of a shared object) with EFAULT.
func (s *Space) populateAdvice(start, end uint64, write bool) error {
	acc, need := Read, VMRead
	if write {
		acc, need = Write, VMWrite
	}
	for addr := start; addr < end; addr += PageSize {
		flags, err := s.flagsAt(addr)
		if err != nil {
			return err
		}
		if flags&need == 0 {
			return syscall.EINVAL
		}
		if err := s.Fault(addr, acc); err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			return syscall.EFAULT
		}
	}
	return nil
}

// flagsAt returns the flags of the area covering addr, or ENOMEM.
func (s *Space) flagsAt(addr uint64) (Flags, error) {
	s.lock.RLock()
	defer s.lock.RUnlock()
	if s.closing.Load() {
		return 0, ErrClosed
	}
	it, ok := s.tree.Find(addr)
	if !ok {
		return 0, syscall.ENOMEM
	}
	return it.Val.flags, nil
}
