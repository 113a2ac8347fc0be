//go:build linux && (amd64 || arm64)

package kernel

import (
	"syscall"
	"unsafe"

	"github.com/vmspace/vmspace/internal/script"
	"golang.org/x/sys/unix"
)

// The system calls take addresses as numbers (base+offset, wrapping like
// the kernel's unsigned long), so no pointer is formed for them.

// Mmap maps anonymous memory. A hint without fixed passes base+off too,
// which the kernel honours when the range is free (and rounds down when
// unaligned).
func (e *Engine) Mmap(off, length uint64, prot script.Prot, flags script.MapFlags) (uint64, bool, error) {
	addr := e.base + off
	if flags&script.FlagFixed != 0 && flags&script.FlagNoreplace == 0 {
		if err := e.checkRange(addr, length, reachTaskSize); err != nil {
			return 0, false, err
		}
	}
	r, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), uintptr(length), uintptr(prot),
		uintptr(mmapFlags(flags)), ^uintptr(0), 0)
	if errno != 0 {
		return 0, false, errno
	}
	placed, inside := e.placed(uint64(r), length)
	return placed, inside, nil
}

// mmapFlags gives the MAP_* flags. Every mapping is anonymous; private and
// shared together are MAP_SHARED_VALIDATE (3).
func mmapFlags(f script.MapFlags) int {
	fl := unix.MAP_ANONYMOUS
	for _, m := range []struct {
		f    script.MapFlags
		bits int
	}{
		{script.FlagPrivate, unix.MAP_PRIVATE},
		{script.FlagShared, unix.MAP_SHARED},
		{script.FlagFixed, unix.MAP_FIXED},
		{script.FlagNoreplace, unix.MAP_FIXED_NOREPLACE},
		{script.FlagGrowsdown, unix.MAP_GROWSDOWN},
		{script.FlagPopulate, unix.MAP_POPULATE},
		{script.FlagNoreserve, unix.MAP_NORESERVE},
		{script.FlagLocked, unix.MAP_LOCKED},
		{script.FlagStack, unix.MAP_STACK},
	} {
		if f&m.f != 0 {
			fl |= m.bits
		}
	}
	return fl
}

func (e *Engine) Munmap(off, length uint64) error {
	addr := e.base + off
	if err := e.checkRange(addr, length, reachTaskSize); err != nil {
		return err
	}
	return errnoErr(unix.Syscall(unix.SYS_MUNMAP, uintptr(addr), uintptr(length), 0))
}

func (e *Engine) Mprotect(off, length uint64, prot script.Prot) error {
	addr := e.base + off
	if err := e.checkRange(addr, length, reachChain); err != nil {
		return err
	}
	return errnoErr(unix.Syscall(unix.SYS_MPROTECT, uintptr(addr), uintptr(length), uintptr(prot)))
}

// Mremap resizes or moves with MREMAP_MAYMOVE, MREMAP_FIXED (which implies
// MAYMOVE) and MREMAP_DONTUNMAP; the new address is passed only with
// fixed, as the kernel reads it only then.
func (e *Engine) Mremap(off, oldLen, newLen uint64, mayMove, fixed bool, newOff uint64, dontUnmap bool) (uint64, bool, error) {
	addr := e.base + off
	var flags, newAddr uint64
	if mayMove || fixed {
		flags |= unix.MREMAP_MAYMOVE
	}
	if fixed {
		flags |= unix.MREMAP_FIXED
		newAddr = e.base + newOff
		if err := e.checkRange(newAddr, newLen, reachTaskSize); err != nil {
			return 0, false, err
		}
	}
	if dontUnmap {
		flags |= unix.MREMAP_DONTUNMAP
	}
	if pageAlign(newLen) <= e.taskSize && pageAlign(newLen) != 0 { // else EINVAL up front
		if err := e.checkRange(addr, oldLen, reachTaskSize); err != nil {
			return 0, false, err
		}
	}
	r, _, errno := unix.Syscall6(unix.SYS_MREMAP, uintptr(addr), uintptr(oldLen), uintptr(newLen),
		uintptr(flags), uintptr(newAddr), 0)
	if errno != 0 {
		return 0, false, errno
	}
	placed, inside := e.placed(uint64(r), newLen)
	return placed, inside, nil
}

func (e *Engine) Madvise(off, length uint64, advice script.Advice) error {
	addr := e.base + off
	adv, ok := madvAdvice[advice]
	if !ok {
		return syscall.EINVAL // madvise_behavior_valid
	}
	if err := e.checkRange(addr, length, reachAll); err != nil {
		return err
	}
	return errnoErr(unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), uintptr(adv)))
}

// madvAdvice maps script advice to MADV_* values.
var madvAdvice = map[script.Advice]int{
	script.AdvDontneed:      unix.MADV_DONTNEED,
	script.AdvFree:          unix.MADV_FREE,
	script.AdvWillneed:      unix.MADV_WILLNEED,
	script.AdvNormal:        unix.MADV_NORMAL,
	script.AdvRandom:        unix.MADV_RANDOM,
	script.AdvSequential:    unix.MADV_SEQUENTIAL,
	script.AdvDontfork:      unix.MADV_DONTFORK,
	script.AdvDofork:        unix.MADV_DOFORK,
	script.AdvWipeonfork:    unix.MADV_WIPEONFORK,
	script.AdvKeeponfork:    unix.MADV_KEEPONFORK,
	script.AdvHugepage:      unix.MADV_HUGEPAGE,
	script.AdvNohugepage:    unix.MADV_NOHUGEPAGE,
	script.AdvDontdump:      unix.MADV_DONTDUMP,
	script.AdvDodump:        unix.MADV_DODUMP,
	script.AdvCold:          unix.MADV_COLD,
	script.AdvPageout:       unix.MADV_PAGEOUT,
	script.AdvPopulateRead:  unix.MADV_POPULATE_READ,
	script.AdvPopulateWrite: unix.MADV_POPULATE_WRITE,
	script.AdvGuardInstall:  unix.MADV_GUARD_INSTALL,
	script.AdvGuardRemove:   unix.MADV_GUARD_REMOVE,
}

// Mincore reports residency. The kernel fills one byte per page from the
// start up to the first hole (do_mincore fails with ENOMEM there), so the
// vector need only cover that run; a huge length does not get a huge
// vector.
func (e *Engine) Mincore(off, length uint64) ([]bool, error) {
	addr := e.base + off
	pages := length>>12 + min(length&(pageSize-1), 1)
	n := pages
	if n > 1<<18 {
		vmas, err := readMaps()
		if err != nil {
			return nil, err
		}
		n = min(n, runPages(vmas, addr))
	}
	vec := make([]byte, max(n, 1))
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(addr), uintptr(length), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return nil, errno
	}
	out := make([]bool, pages)
	for i := range out {
		out[i] = vec[i]&1 != 0
	}
	return out, nil
}

// runPages counts the pages of the run of adjacent VMAs that starts at
// addr (0 when addr is in a hole).
func runPages(vmas []vma, addr uint64) uint64 {
	at := addr &^ (pageSize - 1)
	for _, v := range vmas {
		if v.end <= at {
			continue
		}
		if v.start > at {
			break
		}
		at = v.end
	}
	return (at - addr&^(pageSize-1)) / pageSize
}

func errnoErr(_, _ uintptr, errno syscall.Errno) error {
	if errno != 0 {
		return errno
	}
	return nil
}
