package mm

import (
	"github.com/vmspace/vmspace/internal/pagetable"
	"github.com/vmspace/vmspace/internal/tree"
)

// Fork returns a child space, a copy of s as fork makes one (dup_mmap):
// the same areas and flags, less VM_LOCKED (mlock is not inherited);
// private pages shared copy-on-write (a page mapped by both spaces is
// copied by whichever writes it first); shared mappings really shared
// (the same object); areas advised VM_DONTCOPY left out; areas advised
// VM_WIPEONFORK copied empty. A child area whose parent had an anon_vma
// gets a new one chained to the parent's (anon_vma_fork): the child's
// pages may still be the parent's, so Linux keeps such areas from merging
// in some cases (vma_is_fork_child). The page table is copied only for
// areas with an anon_vma (vma_needs_copy); the others refill on faults.
//
// The parent is held still for the whole copy, as dup_mmap holds it: the
// space write lock and every area write-locked, so the parent's faults
// fall back to the space lock and wait rather than see half a copy. The
// child is private until Fork returns; it has the hooks of Hooks.Child.
func (s *Space) Fork() (*Space, error) {
	x := s.begin()
	defer x.end()
	defer x.abort() // the parent does not change: the session only locks
	if s.closed {
		return nil, ErrClosed
	}
	child, err := New(s.config())
	if err != nil {
		return nil, err
	}
	var areas []*Area
	x.view().Ascend(0, func(it tree.Item[entry]) bool {
		x.lockArea(it.Val.a) // vma_start_write on every parent area
		areas = append(areas, it.Val.a)
		return true
	})
	child.heap.start.Store(s.heap.start.Load())
	child.heap.brk.Store(s.heap.brk.Load())
	cx := child.beginUnordered()
	defer cx.end()
	for _, a := range areas {
		if a.flags&VMDontCopy != 0 {
			continue
		}
		st := stateOf(a)
		st.flags &^= VMLocked | VMLockOnFault
		copyPages := false
		switch {
		case a.flags&VMWipeOnFork != 0:
			st.anon, st.anonChain = nil, 0 // a clean slate
		case st.anon != nil:
			st.anon, st.anonChain = newAnonVMA(), a.anonChain+1
			copyPages = true
		}
		st.shm.addSpace(child) // the child maps the file too (no-op otherwise)
		n := cx.newArea(st)
		if err := cx.store(n.start, n.end, n); err != nil {
			cx.abort()
			return nil, err
		}
		if copyPages {
			s.copyPagesTo(child, a.start, a.end)
		}
	}
	cx.commit()
	return child, nil
}

// copyPagesTo maps the pages of [start, end) of s at the same addresses in
// child (copy_page_range): a private page becomes mapped twice and so
// copy-on-write in both spaces; a shared page is simply mapped again; the
// zero page and guard markers are copied as they are.
// Precondition: s's areas over the range are write-locked; child is not
// yet shared with anyone.
func (s *Space) copyPagesTo(child *Space, start, end uint64) {
	lo, hi := (start-s.base)>>pageShift, (end-s.base)>>pageShift
	s.pt.Range(lo, hi, func(pn uint64, slot *pagetable.Slot) {
		p := slot.Load()
		if p.Ordinary() {
			s.mem.Map(p) // the child's slot holds a mapping too
		}
		child.pt.Slot(pn).Store(p)
	})
}

// config returns the configuration s was made with, with the hooks meant
// for a child (Hooks.Child) in place of its own; the arena is the same, so
// parent and child can map the same frames.
func (s *Space) config() Config {
	c := Config{
		Base: s.base, End: s.end, MmapBase: s.mmapBase,
		Mode: s.mode, Recycle: s.recycle, MaxAreas: s.maxAreas,
		StackLimit: s.stackLimit, StackGuardGap: s.stackGuardGap,
		NoZeroPage: s.noZeroPage, OvercommitNever: s.overcommitNever, THPAlign: s.thpAlign,
		Frames: s.mem,
	}
	if s.hooks != nil {
		c.Hooks = s.hooks.Child
	}
	return c
}
