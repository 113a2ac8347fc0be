package script

import "syscall"

// faultError is the outcome of a touch or read that the kernel answers
// with a signal instead of an errno. The SIGSEGV ones also match
// syscall.EFAULT under errors.Is, as a user-space copy of the access
// (copy_to_user, process_vm_writev) would fail with EFAULT.
type faultError struct {
	text  string // what the transcript prints
	errno syscall.Errno
}

func (e *faultError) Error() string { return e.text }

func (e *faultError) Is(target error) bool {
	return e.errno != 0 && target == e.errno
}

// Fault errors. Engines return errors that errors.Is one of these when a
// touch or read faults.
var (
	// ErrSegvMaperr: SIGSEGV with si_code SEGV_MAPERR. Linux sends it when
	// no VMA covers the address (or it lies below a growsdown VMA beyond
	// what the stack may grow), and also for a guard region installed by
	// MADV_GUARD_INSTALL, whose PTE marker faults as VM_FAULT_SIGSEGV.
	ErrSegvMaperr error = &faultError{"EFAULT SEGV_MAPERR", syscall.EFAULT}
	// ErrSegvAccerr: SIGSEGV with SEGV_ACCERR: a VMA covers the address
	// but its protection forbids the access.
	ErrSegvAccerr error = &faultError{"EFAULT SEGV_ACCERR", syscall.EFAULT}
	// ErrSigbus: SIGBUS, as for a page of a shared anonymous (shmem)
	// mapping beyond the end of its object, after mremap grew it.
	ErrSigbus error = &faultError{"SIGBUS", 0}
)
