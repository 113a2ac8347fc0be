package shadow

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vmspace/vmspace"
)

func isAccErr(err error) bool {
	var fe *vmspace.FaultError
	return errors.As(err, &fe) && fe.Code == vmspace.AccErr
}

// result turns a vmspace answer into a raw system call return value.
func result(v uint64, err error) (int64, bool, error) {
	if err == nil {
		return int64(v), false, nil
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return -int64(e), false, nil
	}
	return 0, false, err // not an errno: a defect to report as such
}

// mmap flags the mirror looks at (include/uapi/linux/mman.h).
const (
	mapTypeMask    = 0x03
	mapPrivate     = 0x02
	mapAnonymous   = 0x20
	mapFixed       = 0x10
	mapFixedNoRepl = 0x100000
	mremapFixed    = 2
	mremapDontUnm  = 4
)

// apply mirrors one call, whose kernel answer is c.Ret, into s and returns
// vmspace's answer as a raw return value. taken reports a call whose
// answer only the kernel could give (a file error), not compared.
func (s *space) apply(c Call, r *Report) (ret int64, taken bool, err error) {
	ret, taken, err = s.apply1(c, r)
	// Areas made or removed by the call may take the range of an area
	// known to be written: forget what is known of the ranges it touched.
	a := c.Args
	switch c.Nr {
	case sysMmap:
		s.forget(uint64(ret), uint64(ret)+pageAlign(a[1]))
	case sysMunmap:
		s.forget(a[0], a[0]+pageAlign(a[1]))
	case sysMremap:
		s.forget(a[0], a[0]+pageAlign(a[1]))
		s.forget(uint64(ret), uint64(ret)+pageAlign(a[2]))
	case sysBrk:
		s.forget(s.startBrk, userEnd) // cheap: brk areas are few
	}
	return ret, taken, err
}

// forget drops the written marks of kernel areas overlapping [start, end).
func (s *space) forget(start, end uint64) {
	for k := range s.written {
		if k[0] < end && start < k[1] {
			delete(s.written, k)
		}
	}
}

func (s *space) apply1(c Call, r *Report) (ret int64, taken bool, err error) {
	a := c.Args
	kernelOK := c.Err() == 0
	switch c.Nr {
	case sysMmap:
		addr, length, prot, flags, off := a[0], a[1], vmspace.Prot(a[2]), a[3], a[5]
		if flags&mapAnonymous != 0 {
			v, err := s.op(func(sp *vmspace.Space) (uint64, error) { return sp.Map(addr, length, prot, vmspace.MapFlags(flags)) })
			if err == nil {
				s.files.remove(v, v+pageAlign(length))
			}
			return result(v, err)
		}
		info, ferr := fdInfo(c.Pid, int(int32(a[4])))
		if !kernelOK && (ferr != nil || fileErrno(c.Err())) {
			// EBADF, EACCES, ENODEV...: the open file decides, and
			// the mirror has no file behind its placeholder.
			r.FileErrors++
			return c.Ret, true, nil
		}
		if off&(pageSize-1) != 0 {
			return -int64(syscall.EINVAL), false, nil
		}
		info.Offset, info.Private = off, flags&mapTypeMask == mapPrivate
		pflags := flags&^mapTypeMask | uint64(vmspace.MapShared|vmspace.MapAnonymous)
		v, err := s.op(func(sp *vmspace.Space) (uint64, error) { return sp.Map(addr, length, prot, vmspace.MapFlags(pflags)) })
		if err == nil {
			r.FileMaps++
			s.files.add(v, v+pageAlign(length), info)
		}
		return result(v, err)
	case sysMunmap:
		_, err := s.op(func(sp *vmspace.Space) (uint64, error) { return 0, sp.Unmap(a[0], a[1]) })
		if err == nil {
			s.files.remove(a[0], a[0]+pageAlign(a[1]))
		}
		return result(0, err)
	case sysMprotect, sysPkeyMprotect:
		return result(s.op(func(sp *vmspace.Space) (uint64, error) { return 0, sp.Protect(a[0], a[1], vmspace.Prot(a[2])) }))
	case sysMremap:
		old, oldLen, newLen, flags, newAddr := a[0], a[1], a[2], a[3], a[4]
		v, err := s.op(func(sp *vmspace.Space) (uint64, error) {
			return sp.Remap(old, oldLen, newLen, vmspace.RemapFlags(flags), newAddr)
		})
		if err == nil {
			s.files.remap(old, pageAlign(oldLen), pageAlign(newLen), v, flags&mremapDontUnm != 0)
		}
		return result(v, err)
	case sysMadvise:
		return result(s.op(func(sp *vmspace.Space) (uint64, error) { return 0, sp.Advise(a[0], a[1], vmspace.Advice(a[2])) }))
	case sysBrk:
		return int64(s.doBrk(a[0])), false, nil
	}
	return 0, false, fmt.Errorf("%s is not mirrored", c.name())
}

// fileErrno reports the errnos of a file mmap that depend on the file
// (how it was opened, what it is), which a placeholder cannot know.
func fileErrno(e syscall.Errno) bool {
	switch e {
	case syscall.EBADF, syscall.EACCES, syscall.ENODEV, syscall.ETXTBSY, syscall.EPERM, syscall.EAGAIN:
		return true
	}
	return false
}

// stackGuardGap is the kernel's stack_guard_gap default, 256 pages.
const stackGuardGap = 256 * pageSize

// doBrk mirrors brk(2) (mm/mmap.c brk) with fixed anonymous Map and Unmap
// calls on the mirror, until vmspace has a Brk of its own: the heap
// shrinks by unmapping, grows by a fixed private mapping that merges with
// the heap area as do_brk_flags expands it, and growth fails when the new
// end plus a page reaches the next area (its guard gap included for a
// stack). Not modelled: RLIMIT_DATA (check_data_rlimit) and the
// CONFIG_COMPAT_BRK floor; a mapping fixed right at start_brk before the
// first growth would merge here where do_brk_flags makes a new area.
func (s *space) doBrk(addr uint64) uint64 {
	if addr < s.startBrk {
		return s.brk
	}
	newBrk, oldBrk := pageAlign(addr), pageAlign(s.brk)
	if newBrk == oldBrk {
		s.brk = addr
		return addr
	}
	if addr <= s.brk {
		if _, err := s.op(func(sp *vmspace.Space) (uint64, error) { return 0, sp.Unmap(newBrk, oldBrk-newBrk) }); err != nil {
			return s.brk
		}
		s.files.remove(newBrk, oldBrk)
		s.brk = addr
		return addr
	}
	for _, m := range s.sp.Maps() {
		if m.End <= oldBrk {
			continue
		}
		gapStart := m.Start
		if m.Flags&vmGrowsDown != 0 {
			gapStart -= min(gapStart, stackGuardGap)
		}
		if m.Start < newBrk+stackGuardGap+pageSize && newBrk+pageSize > gapStart {
			return s.brk
		}
		break
	}
	if _, err := s.op(func(sp *vmspace.Space) (uint64, error) {
		return sp.Map(oldBrk, newBrk-oldBrk, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed)
	}); err != nil {
		return s.brk
	}
	s.brk = addr
	return addr
}
