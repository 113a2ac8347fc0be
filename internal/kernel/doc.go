// Package kernel runs scripts against the real Linux kernel: it is the
// oracle that vmspace is compared with. Every call of package script is
// made for real, with mmap, munmap, mprotect, mremap, madvise and mincore
// on a free 1 GiB region of this very process, and touch and read are real
// byte accesses whose faults are recovered and turned into the answer the
// kernel gave (SEGV_MAPERR, SEGV_ACCERR or SIGBUS) instead of a crash.
//
// Running in-process keeps the oracle cheap enough for a differential
// fuzzer to call it for every generated script. The price is that a script
// can name any address of the process, so the engine refuses (with
// ErrOutsideArena) a call that could reach memory it does not own, such as
// the Go heap, instead of letting the kernel destroy it.
//
// Only Linux on amd64 or arm64 with 4 KiB pages can run it (Supported);
// elsewhere New fails with ErrUnsupported.
package kernel
