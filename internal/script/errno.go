package script

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrnoName gives the word a transcript prints for err: "0" for nil, the
// fault text for the fault errors ("EFAULT SEGV_MAPERR", "SIGBUS"), the
// errno's name for a syscall.Errno ("EINVAL", "ENOMEM"), possibly wrapped.
// Any other error gives "", which Run treats as an engine failure.
func ErrnoName(err error) string {
	if err == nil {
		return "0"
	}
	for _, f := range []error{ErrSegvMaperr, ErrSegvAccerr, ErrSigbus} {
		if errors.Is(err, f) {
			return f.Error()
		}
	}
	var e syscall.Errno
	if !errors.As(err, &e) {
		return ""
	}
	if e == 0 {
		return "0"
	}
	if name, ok := errnoNames[e]; ok {
		return name
	}
	return fmt.Sprintf("ERRNO%d", uintptr(e))
}
