package mm

import "syscall"

// defaultStackLimit is RLIMIT_STACK's usual soft limit, 8 MiB, under which
// the kernel answers were recorded.
const defaultStackLimit = 8 << 20

// expandStack grows the growsdown area just above addr down to addr's
// page, for a fault in the hole below it (the x86 fault path's
// lock_mm_and_find_vma, which upgrades to the space write lock and calls
// expand_stack_locked). It reports whether addr is covered now, by this
// growth or by another goroutine's. The fault path calls it holding no
// lock and retries the fault afterwards.
func (s *Space) expandStack(addr uint64) bool {
	x := s.begin()
	defer x.end()
	if s.closed {
		x.abort()
		return false
	}
	view := x.view()
	if _, ok := view.Find(addr); ok {
		x.abort()
		return true
	}
	it, ok := view.First(addr)
	if !ok || x.expandDownwardsLocked(it.Val.a, addr) != nil {
		x.abort()
		return false
	}
	x.commit()
	return true
}

// expandDownwardsLocked moves a's start down to addr's page
// (expand_downwards): the area must be growsdown, addr at or above the
// space's base, the gap left to an accessible area below that is not
// itself growsdown at least the stack guard gap, and the grown area within the
// stack limit. The area gets an anon_vma first (anon_vma_prepare), as the
// kernel gives one to every stack it grows; that counts for later merges.
// Precondition: x is open, a is the first area above addr and addr is in
// the hole below it.
func (x *session) expandDownwardsLocked(a *Area, addr uint64) error {
	s := x.s
	if a.flags&VMGrowsDown == 0 {
		return syscall.EFAULT
	}
	addr &^= pageMask
	if addr < s.base {
		return syscall.EPERM // below mmap_min_addr
	}
	if it, ok := x.view().Last(a.start); ok {
		prev := it.Val.a
		if prev.flags&VMGrowsDown == 0 && prev.flags&vmAccessFlags != 0 && addr-prev.end < s.stackGuardGap {
			return syscall.ENOMEM // stack_guard_gap
		}
	}
	size := a.end - addr
	grow := (a.start - addr) >> pageShift
	if grow > a.pgoff || size > s.stackLimit {
		return syscall.ENOMEM // acct_stack_growth
	}
	x.lockArea(a)
	st := stateOf(a)
	if st.anon == nil {
		// anon_vma_prepare, with the layout as it is before the growth.
		// No fault can assign one meanwhile: that needs the space lock.
		s.ptl.Lock()
		st.anon, st.anonChain = mergeableAnonIn(x.view(), a), 1
		s.ptl.Unlock()
		if st.anon == nil {
			st.anon = newAnonVMA()
		}
	}
	st.start, st.pgoff = addr, a.pgoff-grow
	x.set(a, st)
	return x.store(addr, a.end, a)
}
