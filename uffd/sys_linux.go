package uffd

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The userfaultfd ABI (include/uapi/linux/userfaultfd.h), x86-64 values.
// golang.org/x/sys/unix does not carry it.
const (
	uffdAPI = 0xAA

	// ioctl numbers: _IOWR/_IOR(0xAA, nr, struct).
	ioctlAPI          = 0xc018aa3f // UFFDIO_API, struct uffdio_api (24 bytes)
	ioctlRegister     = 0xc020aa00 // UFFDIO_REGISTER (32)
	ioctlUnregister   = 0x8010aa01 // UFFDIO_UNREGISTER, struct uffdio_range (16)
	ioctlWake         = 0x8010aa02 // UFFDIO_WAKE (16)
	ioctlCopy         = 0xc028aa03 // UFFDIO_COPY (40)
	ioctlZeropage     = 0xc020aa04 // UFFDIO_ZEROPAGE (32)
	ioctlMove         = 0xc028aa05 // UFFDIO_MOVE (40)
	ioctlWriteProtect = 0xc018aa06 // UFFDIO_WRITEPROTECT (24)
	ioctlPoison       = 0xc020aa08 // UFFDIO_POISON (32)

	// userfaultfd(2) flags.
	UserModeOnly = 1 // UFFD_USER_MODE_ONLY

	// Features (UFFD_FEATURE_*).
	FeaturePagefaultFlagWP = 1 << 0
	FeatureEventFork       = 1 << 1
	FeatureEventRemap      = 1 << 2
	FeatureEventRemove     = 1 << 3
	FeatureEventUnmap      = 1 << 6
	FeatureSigbus          = 1 << 7
	FeatureThreadID        = 1 << 8
	FeatureExactAddress    = 1 << 11
	FeatureWPUnpopulated   = 1 << 13
	FeaturePoison          = 1 << 14
	FeatureWPAsync         = 1 << 15
	FeatureMove            = 1 << 16

	// Register modes.
	RegisterMissing = 1 // UFFDIO_REGISTER_MODE_MISSING
	RegisterWP      = 2 // UFFDIO_REGISTER_MODE_WP

	copyModeDontWake = 1
	copyModeWP       = 2
	wpModeWP         = 1
	wpModeDontWake   = 2

	// Event kinds (UFFD_EVENT_*).
	eventPagefault = 0x12
	eventFork      = 0x13
	eventRemap     = 0x14
	eventRemove    = 0x15
	eventUnmap     = 0x16

	// Page fault flags.
	pagefaultWrite = 1 // UFFD_PAGEFAULT_FLAG_WRITE
	pagefaultWP    = 2 // UFFD_PAGEFAULT_FLAG_WP

	msgSize = 32 // sizeof(struct uffd_msg)
)

// Open creates a userfaultfd in this process (userfaultfd(2)) with flags
// (O_CLOEXEC|O_NONBLOCK are always added; pass UserModeOnly where
// vm.unprivileged_userfaultfd is 0 and the caller lacks CAP_SYS_PTRACE)
// and does the UFFDIO_API handshake asking for features. It returns the
// descriptor and the features the kernel offers.
func Open(flags int, features uint64) (fd int, offered uint64, err error) {
	r, _, e := unix.Syscall(unix.SYS_USERFAULTFD, uintptr(flags|unix.O_CLOEXEC|unix.O_NONBLOCK), 0, 0)
	if e != 0 {
		return -1, 0, e
	}
	fd = int(r)
	var api [3]uint64
	api[0] = uffdAPI
	api[1] = features
	if err := ioctl(fd, ioctlAPI, unsafe.Pointer(&api)); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, api[1], nil
}

// Register registers [addr, addr+length) of this process's memory (the
// memory of the process that created fd) with fd in mode (RegisterMissing,
// RegisterWP).
func Register(fd int, addr, length uintptr, mode uint64) error {
	r := [4]uint64{uint64(addr), uint64(length), mode, 0}
	return ioctl(fd, ioctlRegister, unsafe.Pointer(&r))
}

// Unregister undoes Register over [addr, addr+length).
func Unregister(fd int, addr, length uintptr) error {
	r := [2]uint64{uint64(addr), uint64(length)}
	return ioctl(fd, ioctlUnregister, unsafe.Pointer(&r))
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// uffdCopy is UFFDIO_COPY of length bytes from src (this process) to dst
// (the userfaultfd's process). It returns the bytes copied (a partial
// copy returns a count and the error).
func uffdCopy(fd int, dst uintptr, src unsafe.Pointer, length uint64, mode uint64) (uint64, error) {
	c := [5]uint64{uint64(dst), uint64(uintptr(src)), length, mode, 0}
	err := ioctl(fd, ioctlCopy, unsafe.Pointer(&c))
	n := int64(c[4])
	if n < 0 {
		n = 0
	}
	return uint64(n), err
}

// uffdZeropage is UFFDIO_ZEROPAGE over [dst, dst+length).
func uffdZeropage(fd int, dst uintptr, length uint64) (uint64, error) {
	z := [4]uint64{uint64(dst), length, 0, 0}
	err := ioctl(fd, ioctlZeropage, unsafe.Pointer(&z))
	n := int64(z[3])
	if n < 0 {
		n = 0
	}
	return uint64(n), err
}

// ZeroPage is UFFDIO_ZEROPAGE over [addr, addr+length) of fd's process,
// waking the threads waiting there (for handlers that serve without a
// Handler, such as the benchmark's floor).
func ZeroPage(fd int, addr, length uint64) error {
	_, err := uffdZeropage(fd, uintptr(addr), length)
	return err
}

// uffdPoison is UFFDIO_POISON over [dst, dst+length): the next access
// there raises SIGBUS.
func uffdPoison(fd int, dst uintptr, length uint64) (uint64, error) {
	z := [4]uint64{uint64(dst), length, 0, 0}
	err := ioctl(fd, ioctlPoison, unsafe.Pointer(&z))
	n := int64(z[3])
	if n < 0 {
		n = 0
	}
	return uint64(n), err
}

// uffdWake wakes the threads waiting on faults in [addr, addr+length).
func uffdWake(fd int, addr uintptr, length uint64) error {
	r := [2]uint64{uint64(addr), length}
	return ioctl(fd, ioctlWake, unsafe.Pointer(&r))
}

// uffdMove is UFFDIO_MOVE of length bytes from src to dst, both in the
// userfaultfd's process.
func uffdMove(fd int, dst, src uintptr, length uint64) (uint64, error) {
	m := [5]uint64{uint64(dst), uint64(src), length, 0, 0}
	err := ioctl(fd, ioctlMove, unsafe.Pointer(&m))
	n := int64(m[4])
	if n < 0 {
		n = 0
	}
	return uint64(n), err
}

// uffdWriteProtect sets (wp) or clears write protection over a range;
// clearing wakes the threads waiting on write-protect faults there.
func uffdWriteProtect(fd int, addr uintptr, length uint64, wp bool) error {
	var mode uint64
	if wp {
		mode = wpModeWP
	}
	return uffdWriteProtectMode(fd, addr, length, mode)
}

// uffdWriteProtectMode is UFFDIO_WRITEPROTECT with mode (wpModeWP,
// wpModeDontWake; not both, the kernel refuses it).
func uffdWriteProtectMode(fd int, addr uintptr, length uint64, mode uint64) error {
	r := [3]uint64{uint64(addr), length, mode}
	return ioctl(fd, ioctlWriteProtect, unsafe.Pointer(&r))
}

// msg is a decoded struct uffd_msg.
type msg struct {
	event uint8
	// pagefault: flags, address; remap: from, to, len; remove/unmap:
	// start, end.
	a, b, c uint64
}

func decodeMsg(p []byte) msg {
	return msg{
		event: p[0],
		a:     binary.LittleEndian.Uint64(p[8:]),
		b:     binary.LittleEndian.Uint64(p[16:]),
		c:     binary.LittleEndian.Uint64(p[24:]),
	}
}

// isUffd reports whether fd is a userfaultfd: /proc/self/fd/N names
// "anon_inode:[userfaultfd]".
func isUffd(fd int) bool {
	var buf [64]byte
	n, err := unix.Readlink("/proc/self/fd/"+itoa(fd), buf[:])
	return err == nil && string(buf[:n]) == "anon_inode:[userfaultfd]"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

var _ = syscall.EAGAIN
