package mm

import "syscall"

// Unmap removes the mappings in [addr, addr+length) (do_vmi_munmap): areas
// are cut in two, trimmed or removed, and the pages in the range go.
// Unmapping nothing is not an error.
func (s *Space) Unmap(addr, length uint64) error {
	if addr&pageMask != 0 || addr > s.end || length > s.end-addr {
		return syscall.EINVAL
	}
	length = (length + pageMask) &^ pageMask
	if length == 0 {
		return syscall.EINVAL
	}
	x := s.begin()
	defer x.end()
	if s.closed {
		x.abort()
		return ErrClosed
	}
	if err := x.unmapRange(addr, addr+length); err != nil {
		x.abort()
		return err
	}
	x.commit()
	return nil
}
