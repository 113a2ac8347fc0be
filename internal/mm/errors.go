package mm

import (
	"errors"
	"fmt"
	"syscall"
)

// FaultCode tells why a fault failed, as the si_code of the SIGSEGV the
// kernel would send.
type FaultCode uint8

const (
	// MapErr: no area covers the address (SEGV_MAPERR).
	MapErr FaultCode = 1
	// AccErr: an area covers the address but forbids the access
	// (SEGV_ACCERR).
	AccErr FaultCode = 2
)

func (c FaultCode) String() string {
	if c == MapErr {
		return "SEGV_MAPERR"
	}
	return "SEGV_ACCERR"
}

// FaultError is the error of a failed fault. It wraps syscall.EFAULT, so
// errors.Is(err, syscall.EFAULT) holds for both codes.
type FaultError struct {
	Addr   uint64
	Access Access
	Code   FaultCode
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("fault: %s at %#x: %s", e.Access, e.Addr, e.Code)
}

// Unwrap returns syscall.EFAULT.
func (e *FaultError) Unwrap() error { return syscall.EFAULT }

// ErrClosed is returned by calls on a space after Close.
var ErrClosed = fmt.Errorf("vmspace: space closed: %w", syscall.ENXIO)

// ErrSigbus is the error of an access the kernel answers with SIGBUS: past
// the end of the object behind a shared mapping (after mremap grew the
// mapping beyond it).
var ErrSigbus = errors.New("vmspace: SIGBUS")

// errNoMemory is the error of a fault that found no free frame and could
// not grow the arena (VM_FAULT_OOM).
var errNoMemory = fmt.Errorf("vmspace: no memory for a page: %w", syscall.ENOMEM)
