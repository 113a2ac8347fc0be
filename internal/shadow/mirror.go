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
func result(v uint64, err error) (int64, error) {
	if err == nil {
		return int64(v), nil
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return -int64(e), nil
	}
	return 0, err // not an errno: a defect to report as such
}

// mmap and mremap flags the mirror looks at (include/uapi/linux/mman.h).
const (
	mapAnonymous  = 0x20
	mremapDontUnm = 4
)

// apply mirrors one call, whose kernel answer is c.Ret, into s and returns
// vmspace's answer as a raw return value (an address, 0, or -errno).
func (s *space) apply(c Call, r *Report) (ret int64, err error) {
	ret, err = s.apply1(c, r)
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
		s.forget(s.startBrk, userEnd) // the heap's neighbourhood
	}
	return ret, err
}

// forget drops the written marks of kernel areas overlapping [start, end).
func (s *space) forget(start, end uint64) {
	for k := range s.written {
		if k[0] < end && start < k[1] {
			delete(s.written, k)
		}
	}
}

func (s *space) apply1(c Call, r *Report) (int64, error) {
	a := c.Args
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
		// The file as the process holds it: identity, size, open mode.
		f, ferr := fdFile(c.Pid, int(int32(a[4])))
		if ferr != nil {
			return result(0, ferr)
		}
		v, err := s.op(func(sp *vmspace.Space) (uint64, error) {
			return sp.MapFile(addr, length, prot, vmspace.MapFlags(flags), f, off)
		})
		if err == nil {
			r.FileMaps++
			s.files.remove(v, v+pageAlign(length))
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
		v, _ := s.op(func(sp *vmspace.Space) (uint64, error) { return sp.Brk(a[0]), nil })
		return int64(v), nil
	}
	return 0, fmt.Errorf("%s is not mirrored", c.name())
}
