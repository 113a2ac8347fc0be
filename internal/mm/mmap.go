package mm

import (
	"syscall"

	"github.com/vmspace/vmspace/internal/frames"
)

// Map maps anonymous memory (do_mmap, __mmap_region) and returns its
// address. flags must hold exactly one of MapPrivate and MapShared;
// MapFixed places it at addr, replacing what was there; MapFixedNoReplace
// places it at addr or fails with EEXIST; otherwise a non-zero addr is a
// hint, taken if the range is free, and the space is searched top-down.
// Adjacent compatible areas merge as Linux merges them.
func (s *Space) Map(addr, length uint64, prot Prot, flags MapFlags) (uint64, error) {
	return s.mapObject(addr, length, prot, flags, nil, 0)
}

// MapFile maps length bytes of f from byte offset off (mmap with a file
// descriptor). MapPrivate maps a private copy: pages are read from f and
// copied on the first write; MapShared maps f itself: writes reach f's
// page cache and every other shared mapping of f, and reads see theirs.
// An access to a page wholly past the end of f gets SIGBUS; the part of
// the last page past the end reads as zeroes. Errors as Linux's do_mmap:
// EINVAL for an unaligned off, EOVERFLOW when off+length overflows,
// EACCES for a file not open for reading or a shared writable mapping of
// a file not open for writing, EINVAL for MapGrowsDown, EOPNOTSUPP for
// flags MapSharedValidate does not know.
func (s *Space) MapFile(addr, length uint64, prot Prot, flags MapFlags, f File, off uint64) (uint64, error) {
	if f == nil {
		return 0, syscall.EBADF
	}
	if off&pageMask != 0 {
		return 0, syscall.EINVAL // sys_mmap: offset_in_page(off)
	}
	return s.mapObject(addr, length, prot, flags&^MapAnonymous, f, off>>pageShift)
}

// mapObject is do_mmap: anonymous memory when f is nil, else pgoff pages
// into f.
func (s *Space) mapObject(addr, length uint64, prot Prot, flags MapFlags, f File, pgoff uint64) (uint64, error) {
	if prot&^protMask != 0 || length == 0 {
		return 0, syscall.EINVAL
	}
	fixed := flags&(MapFixed|MapFixedNoReplace) != 0
	if !fixed {
		addr = s.roundHint(addr)
	}
	length = (length + pageMask) &^ pageMask
	if length == 0 {
		return 0, syscall.ENOMEM
	}
	if pgoff+length>>pageShift < pgoff {
		return 0, syscall.EOVERFLOW
	}
	vmf := Flags(prot) | VMMayRead | VMMayWrite | VMMayExec
	if flags&MapGrowsDown != 0 {
		vmf |= VMGrowsDown
	}
	if flags&MapLocked != 0 {
		vmf |= VMLocked
	}
	if flags&MapStack != 0 {
		vmf |= VMNoHugePage // MAP_STACK implies VM_NOHUGEPAGE since 6.7
	}

	x := s.begin()
	addr, vmf, err := s.mapLocked(x, addr, length, vmf, flags, f, pgoff)
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

// legacyMapMask are the flags MAP_SHARED_VALIDATE accepts on a file
// (LEGACY_MAP_MASK): all the old ones, not MAP_FIXED_NOREPLACE.
const legacyMapMask = MapShared | MapPrivate | MapFixed | MapAnonymous | 0x0800 /* DENYWRITE */ |
	0x1000 /* EXECUTABLE */ | 0x4000000 /* UNINITIALIZED */ | MapGrowsDown | MapLocked |
	MapNoReserve | MapPopulate | 0x10000 /* NONBLOCK */ | MapStack | 0x40000 /* HUGETLB */

// fileFlags applies do_mmap's checks and flag rules for a mapping of f.
func fileFlags(f File, vmf Flags, flags MapFlags, prot Prot, pgoff, length uint64) (Flags, MapFlags, error) {
	// file_mmap_ok for a regular file: the mapping must end below
	// MAX_LFS_FILESIZE.
	const maxFileSize = 1<<63 - 1
	if pgoff > (maxFileSize-length)>>pageShift {
		return 0, 0, syscall.EOVERFLOW
	}
	switch flags & mapType {
	case MapShared, MapSharedValidate:
		if flags&mapType == MapShared {
			flags &= legacyMapMask
		} else if flags&^legacyMapMask != 0 {
			return 0, 0, syscall.EOPNOTSUPP
		}
		if prot&ProtWrite != 0 && !f.Writable() {
			return 0, 0, syscall.EACCES
		}
		vmf |= VMShared | VMMayShare
		if !f.Writable() {
			// A read-only file can be mapped shared, but never
			// written: the area lists as shared and acts as
			// private read-only memory.
			vmf &^= VMMayWrite | VMShared
		}
		fallthrough
	case MapPrivate:
		if !f.Readable() {
			return 0, 0, syscall.EACCES
		}
		if nx, ok := f.(interface{ NoExec() bool }); ok && nx.NoExec() {
			// path_noexec: on a noexec mount, no executable mapping now
			// and none later (mprotect then fails with EACCES).
			if vmf&VMExec != 0 {
				return 0, 0, syscall.EPERM
			}
			vmf &^= VMMayExec
		}
		if nm, ok := f.(interface{ NoMmap() bool }); ok && nm.NoMmap() {
			return 0, 0, syscall.ENODEV // can_mmap_file: no mmap operation
		}
		if vmf&VMGrowsDown != 0 {
			return 0, 0, syscall.EINVAL
		}
	default:
		return 0, 0, syscall.EINVAL
	}
	return vmf, flags, nil
}

// mapLocked is the body of mapObject. It returns the address and the
// area's flags. Precondition: x is open.
func (s *Space) mapLocked(x *session, addr, length uint64, vmf Flags, flags MapFlags, f File, pgoff uint64) (uint64, Flags, error) {
	if s.closed {
		return 0, 0, ErrClosed
	}
	fixed := flags&(MapFixed|MapFixedNoReplace) != 0
	addr, err := s.getUnmappedArea(x, addr, length, fixed, flags&mapType == MapShared, vmf, f, pgoff)
	if err != nil {
		return 0, 0, err
	}
	end := addr + length
	overlaps := false
	if it, ok := x.view().First(addr); ok && it.Start < end {
		overlaps = true
	}
	if flags&MapFixedNoReplace != 0 && overlaps {
		return 0, 0, syscall.EEXIST
	}
	// do_mmap checks the mapping type only now, after the placement: a
	// bad type with a bad length or address fails for those first.
	if f != nil {
		if vmf, flags, err = fileFlags(f, vmf, flags, vmf.Prot(), pgoff, length); err != nil {
			return 0, 0, err
		}
	} else {
		switch flags & mapType {
		case MapShared:
			if flags&MapGrowsDown != 0 {
				return 0, 0, syscall.EINVAL
			}
			vmf |= VMShared | VMMayShare
		case MapPrivate:
		default:
			return 0, 0, syscall.EINVAL
		}
	}
	if flags&MapNoReserve != 0 && !s.overcommitNever {
		vmf |= VMNoReserve // honoured unless overcommit is never
	}
	// accountable_mapping: private writable memory is charged.
	if vmf&(VMNoReserve|VMShared|VMWrite) == VMWrite {
		vmf |= VMAccount
	}
	if s.maxAreas > 0 && x.view().Len() > s.maxAreas {
		return 0, 0, syscall.ENOMEM
	}
	var obj *shmObject
	if f != nil {
		if s.mem != frames.Default() {
			// A file's page cache lives in the process's arena; a
			// slot of this space could not name its frames.
			return 0, 0, syscall.EINVAL
		}
		if obj, err = fileObject(f); err != nil {
			return 0, 0, err
		}
	}
	if overlaps {
		if err := x.unmapRange(addr, end); err != nil {
			return 0, 0, err
		}
	}
	m := mergeReq{start: addr, end: end, flags: vmf, shm: obj, pgoff: pgoff}
	switch {
	case obj == nil && vmf&VMShared != 0:
		// A new shared anonymous mapping is a new shmem object: it
		// cannot merge.
		m.shm, m.pgoff = newShm(s.mem, length>>pageShift), 0
	default:
		if obj == nil {
			m.pgoff = addr >> pageShift // anon_vma's page offset
		}
		m.prev = x.areaEndingAt(addr)
		m.next = x.areaAt(end)
		a, err := x.mergeNew(&m)
		if err != nil {
			return 0, 0, err
		}
		if a != nil {
			obj.addSpace(s)
			return addr, vmf, nil
		}
	}
	if s.maxAreas > 0 && x.view().Len() >= s.maxAreas {
		return 0, 0, syscall.ENOMEM
	}
	a := x.newArea(areaState{start: addr, end: end, pgoff: m.pgoff, flags: vmf, shm: m.shm})
	if err := x.store(addr, end, a); err != nil {
		return 0, 0, err
	}
	obj.addSpace(s)
	return addr, vmf, nil
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
