package mm

import (
	"errors"

	"github.com/vmspace/vmspace/internal/frames"
	"github.com/vmspace/vmspace/internal/lockcheck"
	"github.com/vmspace/vmspace/internal/pagetable"
	"github.com/vmspace/vmspace/internal/tree"
)

// errRetry: the fault needs the space lock to go on (VM_FAULT_RETRY).
var errRetry = errors.New("mm: retry under the space lock")

// Fault resolves a fault at addr for access acc: it checks the access
// against the area's protection and makes the page present, zero-filled on
// first touch. In per-area mode it runs under the area's read lock and
// falls back to the space lock on any doubt; in whole-space mode it runs
// under the space lock held for reading.
func (s *Space) Fault(addr uint64, acc Access) error {
	return s.access(addr, acc, nil)
}

// access faults addr in and, if fn is not nil, runs fn on the page under
// the same lock, so that the access and the fault are one atomic step.
func (s *Space) access(addr uint64, acc Access, fn func(f frames.Frame)) error {
	if s.mode == PerArea {
		if a := s.lockAreaLockless(addr); a != nil {
			lockcheck.AreaRead(a, s)
			err := s.faultLocked(a, addr, acc, false, fn)
			lockcheck.AreaReadRelease(a)
			a.readUnlock(s)
			if err != errRetry {
				s.stats.at(addr).success.Add(1)
				return err
			}
			s.stats.at(addr).retry.Add(1)
		}
	}
	return s.accessSlow(addr, acc, fn)
}

// accessSlow is the fault under the space lock held for reading
// (lock_mm_and_find_vma). An address in the hole just below a growsdown
// area grows that area first, under the space lock held for writing
// (expand_stack_locked, stack.go), and the fault is then retried once.
func (s *Space) accessSlow(addr uint64, acc Access, fn func(f frames.Frame)) error {
	st := s.stats.at(addr)
	st.spaceLocked.Add(1)
	if s.mode == PerArea {
		st.fallback.Add(1)
	}
	for grown := false; ; grown = true {
		err, stack := s.faultSpaceLocked(addr, acc, fn)
		if !stack || grown || !s.expandStack(addr) {
			return err
		}
	}
}

// faultSpaceLocked is one try of accessSlow under the space read lock.
// stack reports a miss just below a growsdown area.
func (s *Space) faultSpaceLocked(addr uint64, acc Access, fn func(f frames.Frame)) (err error, stack bool) {
	s.lock.RLock()
	defer s.lock.RUnlock()
	if s.closing.Load() {
		return ErrClosed, false
	}
	v, ok := s.tree.FindVal(addr)
	if !ok {
		// find_vma: the first area above; a growsdown one may grow.
		next, ok := s.tree.First(addr)
		stack = ok && next.Val.flags&VMGrowsDown != 0
		return &FaultError{Addr: addr, Access: acc, Code: MapErr}, stack
	}
	return s.faultLocked(v.a, addr, acc, true, fn), false
}

// faultLocked does a fault's work on area a (handle_mm_fault). If fn is
// not nil it runs on the frame mapped at addr, holding a reference on it
// (the zero page needs none), so that a concurrent MADV_DONTNEED or
// copy-on-write cannot free the frame under it (package frames, "The reuse
// rule").
// Preconditions: a covers addr, and the caller holds a's read lock
// (spaceLocked false) or the space lock for reading (spaceLocked true).
func (s *Space) faultLocked(a *Area, addr uint64, acc Access, spaceLocked bool, fn func(f frames.Frame)) error {
	if !a.flags.permits(acc) {
		return &FaultError{Addr: addr, Access: acc, Code: AccErr}
	}
	mem := s.mem
	pn := (addr - s.base) >> pageShift
	slot := s.pt.Slot(pn)
	obj := a.shm
	for {
		p := slot.Load()
		held := false       // this fault holds a reference on p
		var st frames.State // p's counts and flags, for a write to a frame
		if acc == Write && p != frames.None {
			s.hook(HookWriteFault, a)
			if p.Ordinary() {
				st = mem.State(p)
			}
		}
		switch {
		case p == frames.Guard:
			// A guard region's marker: the fault handler returns
			// VM_FAULT_SIGSEGV, sent as SEGV_MAPERR.
			return &FaultError{Addr: addr, Access: acc, Code: MapErr}
		case a.flags&VMMayShare != 0:
			// Shared memory, anonymous or a file (a read-only file
			// mapped shared too: it has VM_MAYSHARE without
			// VM_SHARED and can never be written): the object's
			// page itself (shmem_fault, filemap_fault).
			if p == frames.None {
				np := obj.page(a.objIndex(addr))
				if np == frames.None {
					return ErrSigbus // past the end of the object
				}
				if !slot.CompareAndSwap(frames.None, np) {
					mem.Unmap(np)
					continue
				}
				p = np
				if acc == Write {
					st = mem.State(p) // a new object page is clean
				}
			}
		case acc != Write && (p != frames.None || obj != nil || !s.noZeroPage):
			if p == frames.None {
				// Read fault on private memory: the file's page
				// from the page cache, mapped read-only
				// (do_read_fault), or for anonymous memory the
				// zero page (do_anonymous_page); no anon_vma is
				// needed.
				np := frames.Zero
				if obj != nil {
					if np = obj.page(a.objIndex(addr)); np == frames.None {
						return ErrSigbus // filemap_fault past i_size
					}
					s.hook(HookFilePage, a)
				}
				if !slot.CompareAndSwap(frames.None, np) {
					if np.Ordinary() {
						mem.Unmap(np)
					}
					continue
				}
				p = np
			}
		case p == frames.None || p == frames.Zero || !st.Exclusive():
			// Write fault: a new page, or a private copy of a page
			// shared with the zero page, the page cache or another
			// space (do_anonymous_page, do_cow_fault, wp_page_copy).
			// A page-cache page is never exclusive: the cache holds
			// a mapping of its own while any slot maps it. A read
			// fault on an empty slot of anonymous memory comes here
			// too when the zero page is off (mm_forbids_zeropage):
			// it allocates and prepares the anon_vma exactly as a
			// write would. The anon_vma comes first: do_cow_fault
			// prepares it before it reads the file, so even a write
			// past the end of the file leaves the area with one.
			if a.anon.Load() == nil {
				if err := s.anonPrepare(a, spaceLocked); err != nil {
					return err
				}
			}
			extra := refsFor(fn)
			if p == frames.None && obj != nil {
				src := obj.page(a.objIndex(addr))
				if src == frames.None {
					return ErrSigbus
				}
				// src's mapping (taken for us by page) keeps it alive
				// while it is copied.
				np, err := mem.AllocCopy(src, extra)
				mem.Unmap(src)
				if err != nil {
					return errNoMemory
				}
				if !slot.CompareAndSwap(frames.None, np) {
					mem.Discard(np, extra)
					continue
				}
				p, held = np, fn != nil
				break
			}
			if p == frames.None || p == frames.Zero {
				np, err := mem.Alloc(extra)
				if err != nil {
					return errNoMemory
				}
				if !slot.CompareAndSwap(p, np) {
					mem.Discard(np, extra)
					continue
				}
				p, held = np, fn != nil
				break
			}
			np, err := s.copyFrame(a, slot, p, extra)
			if err == errRetry {
				continue
			}
			if err != nil {
				return err
			}
			s.hook(HookBeforeInstall, a)
			if !s.installCopy(pn, slot, p, np, extra) {
				continue
			}
			mem.Unmap(p) // the slot's mapping of the old page
			p, held = np, fn != nil
		case st.WasShared() && !s.reusable(pn, slot, p) || !st.WasShared() && slot.Load() != p:
			// p looked exclusive because another fault replaced it in
			// this slot with a copy and dropped this slot's mapping:
			// what is left of p belongs to the space it was shared
			// with. Look again.
			continue
		}
		if (fn != nil || st.Clean()) && !held && p != frames.Zero {
			// Bytes to touch, or a clean mark to clear (st is only
			// set for a write): hold the frame first.
			if !s.holdFrame(a, slot, p) {
				continue // freed or replaced since the load: look again
			}
			held = true
		}
		s.hook(HookBeforeAccess, a)
		if acc == Write && held {
			mem.Redirty(p) // a lazy-free page written again keeps its data
		}
		if fn != nil {
			fn(p)
		}
		if held {
			mem.Unref(p)
		}
		return nil
	}
}

// refsFor returns the references a new frame comes with for a fault that
// runs fn on it: one if there is an fn, none if not.
func refsFor(fn func(frames.Frame)) uint32 {
	if fn != nil {
		return 1
	}
	return 0
}

// copyFrame returns a copy of old, which a write fault found shared in
// slot (wp_page_copy), mapped once with extra references. It returns
// errRetry when old left the slot before it could be copied.
func (s *Space) copyFrame(a *Area, slot *pagetable.Slot, old frames.Frame, extra uint32) (frames.Frame, error) {
	// The copy reads old's bytes: hold it, and make sure it is still
	// this slot's page, so that the copy is of this space's data.
	if !s.holdFrame(a, slot, old) {
		return frames.None, errRetry
	}
	f, err := s.mem.AllocCopy(old, extra)
	s.mem.Unref(old)
	if err != nil {
		return frames.None, errNoMemory
	}
	return f, nil
}

// objIndex is the page offset in a's object of the page at addr.
func (a *Area) objIndex(addr uint64) uint64 { return a.pgoff + (addr-a.start)>>pageShift }

// installCopy puts np, a copy of p, into slot (page number pn) in place of
// p, and reports whether it did. It does so only if, under the slot's
// page-table lock, the slot still holds p and p is still mapped more than
// once (wp_page_copy's pte_same check under the PTE lock). If p became
// exclusive since it was copied, a write fault of this space may have
// reused it and written into it (reusable, under the same lock), and the
// copy, taken before that write, would lose it: the copy is thrown away
// (with its extra references) and the fault looks again (and reuses p).
//
// Why a count of 1 cannot go back up while the copier waits: a page mapped
// once is mapped by this slot only, in this space, under the area the
// copier holds read-locked (or the space lock held for reading); the only
// way to add a mapping is to fork this space, and Fork write-locks every
// area of the parent (and holds the space lock for writing). So "shared
// when checked under the lock" means "shared during the whole copy": no
// reuse of p can have happened in between. Reading p's count needs no
// reference: while the slot holds p, its mapping keeps p alive, and if
// the slot does not, the count is not looked at.
// Precondition: the area over slot read-locked, or the space lock held.
func (s *Space) installCopy(pn uint64, slot *pagetable.Slot, p, np frames.Frame, extra uint32) bool {
	ptl := s.pt.PTL(pn)
	ptl.Lock()
	ok := slot.Load() == p && s.mem.Maps(p) > 1 && slot.CompareAndSwap(p, np)
	ptl.Unlock()
	if !ok {
		s.mem.Discard(np, extra)
	}
	return ok
}

// reusable reports whether a write fault may write into p, which it found
// exclusive in slot (page number pn), in place (wp_page_reuse). The slot
// must still hold p: another fault may have replaced it with a copy and
// dropped its mapping, leaving p to the space it was shared with. A page
// that was ever mapped more than once may also have a copier in flight
// (installCopy): the decision is then made under the page-table lock, so
// that the copier, which checks under it too, sees the reuse; once made,
// the page is marked as never shared again, so that later faults on it
// stay lock-free (a new sharing needs a fork, which sets the mark again).
// A stale p (freed and reused elsewhere since the load) fails the slot
// check; its flags, read before that, are only metadata.
// The fault path calls it only for a page with the mark; without it, the
// slot check alone decides, without the lock.
// Precondition: as for installCopy; p was found exclusive and marked in
// its state read after the slot load.
func (s *Space) reusable(pn uint64, slot *pagetable.Slot, p frames.Frame) bool {
	ptl := s.pt.PTL(pn)
	ptl.Lock()
	ok := slot.Load() == p && s.mem.Exclusive(p)
	if ok {
		s.mem.ForgetShared(p)
	}
	ptl.Unlock()
	return ok
}

// holdFrame takes a reference on f, which the caller loaded from slot
// without a lock that keeps the slot still, and checks that slot still
// holds it (get_page_unless_zero, then the PTE re-check of
// gup_fast_pte_range). On true the caller may touch f's bytes until it
// drops the reference with Unref; on false f may already be another
// owner's, and the caller must load the slot again.
func (s *Space) holdFrame(a *Area, slot *pagetable.Slot, f frames.Frame) bool {
	s.hook(HookFrameLoaded, a)
	if !s.mem.TryRef(f) {
		return false
	}
	if slot.Load() != f {
		s.mem.Unref(f)
		return false
	}
	return true
}

// anonPrepare gives a its anon_vma on its first write fault
// (vmf_anon_prepare, __anon_vma_prepare): the neighbour's if it can be
// shared (find_mergeable_anon_vma), else a new one. Choosing means looking
// at the neighbours, which only the space lock keeps still, so under an
// area lock it try-locks the space lock and asks for a retry if it cannot.
func (s *Space) anonPrepare(a *Area, spaceLocked bool) error {
	if !spaceLocked {
		if !s.lock.TryRLock() {
			return errRetry
		}
		defer s.lock.RUnlock()
	}
	s.ptl.Lock()
	defer s.ptl.Unlock()
	if a.anon.Load() != nil {
		return nil
	}
	av := s.findMergeableAnon(a)
	if av == nil {
		av = newAnonVMA()
	}
	a.anonChain = 1
	a.anon.Store(av)
	return nil
}

// findMergeableAnon returns a neighbour's anon_vma that a may share: the
// neighbour must be adjacent, differ from a at most in protection, continue
// a's page offsets, and not share pages with a parent (next first, then
// prev, as find_mergeable_anon_vma).
// Preconditions: space lock held for reading, ptl held.
func (s *Space) findMergeableAnon(a *Area) *anonVMA {
	snap := s.tree.Snapshot()
	defer snap.Release()
	return mergeableAnonIn(snap, a)
}

// mergeableAnonIn is findMergeableAnon on the layout snap (a write
// session's view, or the published tree).
func mergeableAnonIn(snap tree.Snapshot[entry, entryCell, *entryCell], a *Area) *anonVMA {
	if it, ok := snap.First(a.end); ok && it.Start == a.end {
		if av := reusableAnon(it.Val.a, a, it.Val.a); av != nil {
			return av
		}
	}
	if it, ok := snap.Last(a.start); ok && it.End == a.start {
		if av := reusableAnon(it.Val.a, it.Val.a, a); av != nil {
			return av
		}
	}
	return nil
}

// reusableAnon returns old's anon_vma if lo and hi (adjacent, lo below hi,
// old one of them) are compatible (reusable_anon_vma, anon_vma_compatible).
func reusableAnon(old, lo, hi *Area) *anonVMA {
	if lo.end != hi.start || lo.shm != hi.shm {
		return nil
	}
	if (lo.flags^hi.flags)&^(vmAccessFlags|VMSoftDirty) != 0 {
		return nil
	}
	if hi.pgoff != lo.pgoff+(hi.start-lo.start)>>pageShift {
		return nil
	}
	av := old.anon.Load()
	if av == nil || old.anonChain != 1 {
		return nil
	}
	return av
}
