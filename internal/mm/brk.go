package mm

// The program break (the kernel's mm->start_brk and mm->brk). Both are
// written under the space write lock and read without locks by the
// listing (which marks the heap), so they are atomic.

// SetBrk sets the start of the heap and the current break, as
// prctl(PR_SET_MM_START_BRK) and prctl(PR_SET_MM_BRK) do, or as exec
// leaves them (start_brk = brk = the end of the data segment). Nothing is
// mapped or unmapped. A tracer that builds a space from a running
// process's layout sets them from /proc/PID/stat.
func (s *Space) SetBrk(start, brk uint64) {
	s.lock.Lock()
	defer s.lock.Unlock()
	s.heap.start.Store(start)
	s.heap.brk.Store(brk)
}

// BrkRange returns the start of the heap and the current break.
func (s *Space) BrkRange() (start, brk uint64) {
	return s.heap.start.Load(), s.heap.brk.Load()
}

// Brk moves the program break to addr and returns the break after the
// call, as the brk system call does: the new break on success, the old
// one when it cannot move (an address below the start of the heap, growth
// that would come within a page of the next mapping, or within the guard
// gap of a stack above, or past the end of the space, or over the area
// limit). Brk(0) only reports the break. Shrinking unmaps the pages given
// back (the whole range between the new and the old break, whatever is
// mapped there); growing maps anonymous read-write memory, and grows the
// area just below if it ends at the old break, started above the start of
// the heap, and would merge with the growth as a new mapping would
// (do_brk_flags merges only with the area before, never the one after).
// RLIMIT_DATA is not modelled: vmspace has no data limit.
func (s *Space) Brk(addr uint64) uint64 {
	x := s.begin()
	defer x.end()
	orig := s.heap.brk.Load()
	if s.closed {
		x.abort()
		return orig
	}
	if ok := x.brkLocked(addr); !ok {
		x.abort()
		s.heap.brk.Store(orig)
		return orig
	}
	x.commit()
	return s.heap.brk.Load()
}

// brkLocked is the brk system call's body under the space write lock. It
// reports whether the break moved (or stayed, for a move inside its page).
func (x *session) brkLocked(addr uint64) bool {
	s := x.s
	start, cur := s.heap.start.Load(), s.heap.brk.Load()
	if addr < start {
		return false
	}
	newbrk, oldbrk := pageAlign(addr), pageAlign(cur)
	if newbrk < addr || oldbrk < cur {
		return false // wraps: past any user address
	}
	if newbrk == oldbrk {
		s.heap.brk.Store(addr)
		return true
	}
	if addr <= cur {
		// Shrinking is always allowed, but only over a mapping: the
		// first area in [newbrk, oldbrk) must exist.
		it, ok := x.view().First(newbrk)
		if !ok || it.Start >= oldbrk {
			return false
		}
		s.heap.brk.Store(addr)
		return x.unmapRange(newbrk, oldbrk) == nil
	}
	// check_brk_limits: the growth must be a valid fixed mapping.
	length := newbrk - oldbrk
	if _, err := s.unmappedArea(x, oldbrk, length, true, 0); err != nil {
		return false
	}
	// The growth must stay a page below the next area, or below its
	// guard gap if it is a stack.
	limit := newbrk + PageSize + s.stackGuardGap
	if limit < newbrk {
		limit = ^uint64(0)
	}
	if it, ok := x.view().First(oldbrk); ok && it.Start < limit {
		gapStart := it.Start
		if it.Val.flags&VMGrowsDown != 0 {
			gapStart = 0
			if it.Start > s.stackGuardGap {
				gapStart = it.Start - s.stackGuardGap
			}
		}
		if newbrk+PageSize > gapStart {
			return false
		}
	}
	// do_brk_flags.
	if s.maxAreas > 0 && x.view().Len() > s.maxAreas {
		return false
	}
	vmf := VMRead | VMWrite | VMMayRead | VMMayWrite | VMMayExec | VMAccount
	m := mergeReq{start: oldbrk, end: newbrk, pgoff: oldbrk >> pageShift, flags: vmf}
	// The candidate is the area before the old break, found no lower
	// than the start of the heap (vma_prev_limit): one ending exactly
	// at the start of an empty heap is not.
	if oldbrk > start {
		m.prev = x.areaEndingAt(oldbrk)
	}
	if m.prev != nil {
		a, err := x.mergeNew(&m) // m.next is nil: only the previous area
		if err != nil {
			return false
		}
		if a != nil {
			s.heap.brk.Store(addr)
			return true
		}
	}
	a := x.newArea(areaState{start: oldbrk, end: newbrk, pgoff: m.pgoff, flags: vmf})
	if err := x.store(oldbrk, newbrk, a); err != nil {
		return false
	}
	s.heap.brk.Store(addr)
	return true
}
