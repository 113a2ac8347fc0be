package mm

import (
	"errors"
	"syscall"
)

// RemapFlags are mremap's flags.
type RemapFlags uint32

const (
	RemapMayMove   RemapFlags = 1
	RemapFixed     RemapFlags = 2
	RemapDontUnmap RemapFlags = 4
)

// Advice is a madvise advice, with Linux's MADV_* value.
type Advice int

// ErrSigbus is the error of an access beyond the end of a shared object.
var ErrSigbus = errors.New("vmspace: SIGBUS")

// Remap is mremap. TODO(issue 3).
func (s *Space) Remap(addr, oldLen, newLen uint64, flags RemapFlags, newAddr uint64) (uint64, error) {
	return 0, syscall.ENOSYS
}

// Advise is madvise. TODO(issue 3).
func (s *Space) Advise(addr, length uint64, adv Advice) error { return syscall.ENOSYS }
