//go:build linux && amd64

package shadow

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ops of PTRACE_GET_SYSCALL_INFO (include/uapi/linux/ptrace.h).
const (
	opNone  = 0
	opEntry = 1
	opExit  = 2
)

// syscallInfo is what PTRACE_GET_SYSCALL_INFO tells of a stopped task: at
// a syscall-entry stop the number and arguments, at a syscall-exit stop
// the return value. It says which stop it is, so the tracer does not have
// to count entries and exits (which exec and signals can put out of step).
type syscallInfo struct {
	op   uint8
	nr   uint64
	args [6]uint64
	rval int64
}

// getSyscallInfo reads struct ptrace_syscall_info: op (u8) at 0, then
// after arch, ip and sp, the union at 24: entry {nr, args[6]} or exit
// {rval s64, is_error u8}.
func getSyscallInfo(tid int) (syscallInfo, error) {
	var buf [88]byte
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(tid),
		uintptr(len(buf)), uintptr(unsafe.Pointer(&buf[0])), 0, 0)
	if e != 0 {
		return syscallInfo{}, e
	}
	in := syscallInfo{op: buf[0]}
	le := binary.LittleEndian
	switch in.op {
	case opEntry:
		in.nr = le.Uint64(buf[24:])
		for i := range in.args {
			in.args[i] = le.Uint64(buf[32+8*i:])
		}
	case opExit:
		in.rval = int64(le.Uint64(buf[24:]))
	}
	return in, nil
}

// groupStop reports whether a stopped task is in a group-stop rather than
// a signal-delivery stop: PTRACE_GETSIGINFO fails with EINVAL then.
func groupStop(tid int) bool {
	var si [128]byte
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0,
		uintptr(unsafe.Pointer(&si[0])), 0, 0)
	return e == unix.EINVAL
}

// peekUint64 reads 8 bytes of a tracee's memory.
func peekUint64(tid int, addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := unix.PtracePeekData(tid, uintptr(addr), b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}
