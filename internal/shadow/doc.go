// Package shadow runs a program under ptrace and follows its address
// space call by call in a vmspace.Space (vmspace shadow -- CMD ...).
//
// Contract. Run starts the command with PTRACE_TRACEME and traces it and
// every task it creates (PTRACE_O_TRACEFORK|VFORK|CLONE|EXEC, EXITKILL).
// After each exec the task's mirror is built from /proc/PID/maps (seed);
// after each layout call (mmap, munmap, mprotect, pkey_mprotect with no
// key, mremap, madvise, brk) the call is applied to the mirror at its
// syscall-exit stop, vmspace's answer is compared with the kernel's, and
// the mirror's layout with /proc/PID/maps: range, permissions,
// shared/private, offset, device:inode and the name (a file unlinked after
// it was mapped may show " (deleted)"). A fork gives the child Space.Fork
// of its parent's mirror; CLONE_VM children (threads, vfork) share their
// parent's. Signals are delivered as if untraced; the program's standard
// streams and exit status pass through (128+N for a death by signal N).
// One difference from an untraced run: a stop signal (SIGSTOP, SIGTSTP)
// does not keep the program stopped, since a tracee attached with
// PTRACE_TRACEME cannot be left in its group-stop (PTRACE_LISTEN needs
// PTRACE_SEIZE).
//
// What the mirror takes from the kernel instead of computing (counted in
// the report's notes):
//   - the layout exec made (binary, interpreter, stack, vdso, heap), read
//     from /proc/PID/maps with VmFlags from smaps, start_brk from
//     /proc/PID/stat, RLIMIT_STACK from /proc/PID/limits, and mmap_base
//     guessed as the top of what exec mapped below the stack (the
//     kernel placed the interpreter, or the vDSO, top-down from it);
//   - [vdso], [vvar], [vvar_vclock]: placeholders (shared anonymous areas
//     listed as the kernel lists them);
//   - writes made without system calls, which decide merges through
//     anon_vmas: before each call the areas that may have changed are
//     read from /proc/PID/pagemap (a swapped page, or a present anonymous
//     page mapped once, is a write) and faulted into the mirror for
//     writing; stack growth by faults is mirrored by a fault at the new
//     bottom. Not exact: see firstWritten.
//   - the files mapped: identity, size and open mode from /proc/PID/fd,
//     fdinfo and statfs (procFile; its pages read as zeroes).
//
// Layout calls it does not mirror (mlock, shmat, mseal, prctl(PR_SET_VMA)
// ...) make it rebuild the mirror from the kernel's layout, counted by
// name. Calls of several threads of one mm that overlap in time form a
// batch, checked at its end against some serial order that respects real
// time (see tracer.batch).
//
// Concurrency. Everything runs on one goroutine locked to its OS thread
// (ptrace requests must come from the tracing thread); no field is
// shared with other goroutines, so there are no locks. The package takes
// no vmspace lock itself: it calls the Space's methods, which lock as
// documented in internal/mm.
package shadow
