package shadow

import (
	"fmt"
	"syscall"
)

// System call numbers on x86-64 (arch/x86/entry/syscalls/syscall_64.tbl)
// that change a process's layout or its process tree.
const (
	sysMmap           = 9
	sysMprotect       = 10
	sysMunmap         = 11
	sysBrk            = 12
	sysMremap         = 25
	sysMadvise        = 28
	sysShmat          = 30
	sysClone          = 56
	sysFork           = 57
	sysVfork          = 58
	sysExecve         = 59
	sysShmdt          = 67
	sysMlock          = 149
	sysMunlock        = 150
	sysMlockall       = 151
	sysMunlockall     = 152
	sysPrctl          = 157
	sysRemapFilePages = 216
	sysIoSetup        = 206
	sysIoDestroy      = 207
	sysExecveat       = 322
	sysMlock2         = 325
	sysPkeyMprotect   = 329
	sysClone3         = 435
	sysMseal          = 462
)

// prSetVMA is prctl's PR_SET_VMA, which names anonymous areas (and so
// splits them).
const prSetVMA = 0x53564d41

var callNames = map[uint64]string{
	sysMmap: "mmap", sysMprotect: "mprotect", sysMunmap: "munmap", sysBrk: "brk",
	sysMremap: "mremap", sysMadvise: "madvise", sysShmat: "shmat", sysShmdt: "shmdt",
	sysClone: "clone", sysFork: "fork", sysVfork: "vfork", sysExecve: "execve",
	sysMlock: "mlock", sysMunlock: "munlock", sysMlockall: "mlockall",
	sysMunlockall: "munlockall", sysPrctl: "prctl", sysRemapFilePages: "remap_file_pages",
	sysIoSetup: "io_setup", sysIoDestroy: "io_destroy", sysExecveat: "execveat",
	sysMlock2: "mlock2", sysPkeyMprotect: "pkey_mprotect", sysClone3: "clone3",
	sysMseal: "mseal",
}

// mirrored reports whether a call is one the shadow applies to vmspace.
func mirrored(nr uint64) bool {
	switch nr {
	case sysMmap, sysMunmap, sysMprotect, sysMremap, sysMadvise, sysBrk, sysPkeyMprotect:
		return true
	}
	return false
}

// layoutChanging reports whether a call the shadow does not mirror may
// change the layout; after one succeeds the mirror is rebuilt from
// /proc/PID/maps (and the count of such calls reported).
func layoutChanging(nr uint64, args [6]uint64) bool {
	switch nr {
	case sysShmat, sysShmdt, sysMlock, sysMunlock, sysMlockall, sysMunlockall,
		sysRemapFilePages, sysIoSetup, sysIoDestroy, sysMlock2, sysMseal:
		return true
	case sysPrctl:
		return args[0] == prSetVMA
	}
	return false
}

// Call is one system call of a traced task: its number and arguments at
// entry and, once it returned, the kernel's answer.
type Call struct {
	Pid  int
	Nr   uint64
	Args [6]uint64
	Ret  int64 // the raw return value: an address, a count or -errno
}

// Err returns the kernel's errno, or 0.
func (c Call) Err() syscall.Errno {
	if c.Ret < 0 && c.Ret > -4096 {
		return syscall.Errno(-c.Ret)
	}
	return 0
}

func (c Call) name() string {
	if n, ok := callNames[c.Nr]; ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", c.Nr)
}

// String renders the call as strace does, with the answer.
func (c Call) String() string {
	a := c.Args
	var s string
	switch c.Nr {
	case sysMmap:
		s = fmt.Sprintf("mmap(%#x, %#x, %#x, %#x, %d, %#x)", a[0], a[1], a[2], a[3], int32(a[4]), a[5])
	case sysMunmap:
		s = fmt.Sprintf("munmap(%#x, %#x)", a[0], a[1])
	case sysMprotect:
		s = fmt.Sprintf("mprotect(%#x, %#x, %#x)", a[0], a[1], a[2])
	case sysPkeyMprotect:
		s = fmt.Sprintf("pkey_mprotect(%#x, %#x, %#x, %d)", a[0], a[1], a[2], int32(a[3]))
	case sysMremap:
		s = fmt.Sprintf("mremap(%#x, %#x, %#x, %#x, %#x)", a[0], a[1], a[2], a[3], a[4])
	case sysMadvise:
		s = fmt.Sprintf("madvise(%#x, %#x, %d)", a[0], a[1], a[2])
	case sysBrk:
		s = fmt.Sprintf("brk(%#x)", a[0])
	default:
		s = fmt.Sprintf("%s(%#x, %#x, %#x)", c.name(), a[0], a[1], a[2])
	}
	return fmt.Sprintf("[pid %d] %s = %s", c.Pid, s, retString(c.Ret))
}

func retString(r int64) string {
	if r < 0 && r > -4096 {
		return "-1 " + errnoName(syscall.Errno(-r))
	}
	return fmt.Sprintf("%#x", r)
}

// errnoName names an errno as strace does (ENOMEM), falling back to the
// number.
func errnoName(e syscall.Errno) string {
	for _, n := range []struct {
		e syscall.Errno
		s string
	}{
		{syscall.EPERM, "EPERM"}, {syscall.ENOENT, "ENOENT"}, {syscall.EBADF, "EBADF"},
		{syscall.EAGAIN, "EAGAIN"}, {syscall.ENOMEM, "ENOMEM"}, {syscall.EACCES, "EACCES"},
		{syscall.EFAULT, "EFAULT"}, {syscall.EBUSY, "EBUSY"}, {syscall.EEXIST, "EEXIST"},
		{syscall.ENODEV, "ENODEV"}, {syscall.EINVAL, "EINVAL"}, {syscall.ETXTBSY, "ETXTBSY"},
		{syscall.EOVERFLOW, "EOVERFLOW"}, {syscall.ENOSYS, "ENOSYS"},
	} {
		if n.e == e {
			return n.s
		}
	}
	return fmt.Sprintf("errno %d", int(e))
}

// pendingCall is a layout call that overlapped another thread's, kept
// until the end of its batch.
type pendingCall struct {
	c    Call
	seq  uint64 // when it entered, in the order of the tracer's stops
	exit uint64 // when it returned, same clock
}
