package mm

import "syscall"

// Map maps anonymous memory (do_mmap, __mmap_region) and returns its
// address. flags must hold exactly one of MapPrivate and MapShared;
// MapFixed places it at addr, replacing what was there; MapFixedNoReplace
// places it at addr or fails with EEXIST; otherwise a non-zero addr is a
// hint, taken if the range is free, and the space is searched top-down.
// Adjacent compatible areas merge as Linux merges them.
func (s *Space) Map(addr, length uint64, prot Prot, flags MapFlags) (uint64, error) {
	if prot&^protMask != 0 || length == 0 {
		return 0, syscall.EINVAL
	}
	var vmf Flags
	if flags&mapType == MapShared {
		vmf = VMShared | VMMayShare
	}
	fixed := flags&(MapFixed|MapFixedNoReplace) != 0
	if !fixed {
		addr = s.roundHint(addr)
	}
	length = (length + pageMask) &^ pageMask
	if length == 0 {
		return 0, syscall.ENOMEM
	}
	vmf |= Flags(prot) | VMMayRead | VMMayWrite | VMMayExec
	if flags&MapGrowsDown != 0 {
		vmf |= VMGrowsDown
	}
	if flags&MapLocked != 0 {
		vmf |= VMLocked
	}
	if flags&MapNoReserve != 0 && !s.overcommitNever {
		vmf |= VMNoReserve
	}
	if flags&MapStack != 0 {
		vmf |= VMNoHugePage // MAP_STACK implies VM_NOHUGEPAGE since 6.7
	}
	// accountable_mapping: private writable memory is charged.
	if vmf&(VMNoReserve|VMShared|VMWrite) == VMWrite {
		vmf |= VMAccount
	}

	x := s.begin()
	addr, err := s.mapLocked(x, addr, length, vmf, flags)
	if err != nil {
		x.abort()
		x.end()
		return 0, err
	}
	x.commit()
	x.end()
	if flags&(MapPopulate|MapLocked) != 0 {
		s.populate(addr, addr+length, vmf)
	}
	return addr, nil
}

// mapLocked is the body of Map. Precondition: x is open.
func (s *Space) mapLocked(x *session, addr, length uint64, vmf Flags, flags MapFlags) (uint64, error) {
	if s.closed {
		return 0, ErrClosed
	}
	fixed := flags&(MapFixed|MapFixedNoReplace) != 0
	addr, err := s.unmappedArea(x, addr, length, fixed, vmf)
	if err != nil {
		return 0, err
	}
	end := addr + length
	overlaps := false
	if it, ok := x.view().First(addr); ok && it.Start < end {
		overlaps = true
	}
	if flags&MapFixedNoReplace != 0 && overlaps {
		return 0, syscall.EEXIST
	}
	// do_mmap checks the mapping type only now, after the placement: a
	// bad type with a bad length or address fails for those first.
	switch flags & mapType {
	case MapShared:
		if flags&MapGrowsDown != 0 {
			return 0, syscall.EINVAL
		}
	case MapPrivate:
	default:
		return 0, syscall.EINVAL
	}
	if s.maxAreas > 0 && x.view().Len() > s.maxAreas {
		return 0, syscall.ENOMEM
	}
	if overlaps {
		if err := x.unmapRange(addr, end); err != nil {
			return 0, err
		}
	}
	m := mergeReq{start: addr, end: end, flags: vmf}
	if vmf&VMShared != 0 {
		// A new shared mapping is a new shmem object: it cannot merge.
		m.shm = newShm(length >> pageShift)
	} else {
		m.pgoff = addr >> pageShift
		m.prev = x.areaEndingAt(addr)
		m.next = x.areaAt(end)
		a, err := x.mergeNew(&m)
		if err != nil {
			return 0, err
		}
		if a != nil {
			return addr, nil
		}
	}
	if s.maxAreas > 0 && x.view().Len() >= s.maxAreas {
		return 0, syscall.ENOMEM
	}
	a := x.newArea(areaState{start: addr, end: end, pgoff: m.pgoff, flags: vmf, shm: m.shm})
	return addr, x.store(addr, end, a)
}

// roundHint rounds a hint down to a page and up to the space's base
// (round_hint_to_min).
func (s *Space) roundHint(addr uint64) uint64 {
	addr &^= pageMask
	if addr != 0 && addr < s.base {
		return s.base
	}
	return addr
}

// unmappedArea chooses where a mapping goes (get_unmapped_area with x86's
// top-down allocator).
func (s *Space) unmappedArea(x *session, addr, length uint64, fixed bool, vmf Flags) (uint64, error) {
	if length > s.end-s.base {
		return 0, syscall.ENOMEM
	}
	if fixed {
		if addr > s.end-length {
			return 0, syscall.ENOMEM
		}
		if addr&pageMask != 0 {
			return 0, syscall.EINVAL
		}
		if addr < s.base {
			return 0, syscall.EPERM // below mmap_min_addr
		}
		return addr, nil
	}
	if addr != 0 && addr <= s.mmapBase-length && addr >= s.base && s.rangeFree(x, addr, addr+length) {
		return addr, nil
	}
	hi := s.mmapBase
	for {
		end, ok := x.view().HighestGap(s.base, hi, length)
		if !ok {
			return 0, syscall.ENOMEM
		}
		// Keep the guard gap below a stack (vm_start_gap).
		if n := x.areaAt(end); n != nil && n.flags&VMGrowsDown != 0 {
			guarded := uint64(0)
			if end > s.stackGuardGap {
				guarded = end - s.stackGuardGap
			}
			if guarded < hi {
				if guarded < s.base+length {
					return 0, syscall.ENOMEM
				}
				hi = guarded
				continue
			}
		}
		return end - length, nil
	}
}

// rangeFree reports whether [start, end) is free and clear of the guard
// gap below a following stack.
func (s *Space) rangeFree(x *session, start, end uint64) bool {
	it, ok := x.view().First(start)
	if !ok {
		return true
	}
	gapEnd := it.Start
	if it.Val.a.flags&VMGrowsDown != 0 {
		if gapEnd > s.stackGuardGap {
			gapEnd -= s.stackGuardGap
		} else {
			gapEnd = 0
		}
	}
	return end <= gapEnd && it.Start >= end
}

// populate faults the pages of [start, end) in after a MAP_POPULATE or
// MAP_LOCKED mapping (mm_populate): write faults for private writable
// memory, read faults otherwise, nothing for inaccessible memory. Errors
// are ignored, as the kernel ignores them.
func (s *Space) populate(start, end uint64, vmf Flags) {
	if vmf&vmAccessFlags == 0 {
		return
	}
	acc := Read
	if vmf&(VMWrite|VMShared) == VMWrite {
		acc = Write
	}
	for a := start; a < end; a += PageSize {
		_ = s.Fault(a, acc)
	}
}
