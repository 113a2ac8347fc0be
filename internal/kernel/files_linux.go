//go:build linux && (amd64 || arm64)

package kernel

import (
	"fmt"
	"math"
	"syscall"

	"github.com/vmspace/vmspace/internal/script"
	"golang.org/x/sys/unix"
)

// A script's files are memfds (shmem files, like tmpfs ones): created
// empty and sized with ftruncate, so their pages exist only once a fault
// or a write makes them, and nothing of the host's file systems shows in
// the answers. The listing names a file by its script name, found from
// the device and inode /proc/self/maps prints.

// kfile is one script file.
type kfile struct {
	fd           int // opened with the script's mode
	rw           int // the memfd itself, read-write, kept for identity
	major, minor uint64
	ino          uint64
}

// File implements script.Engine.
func (e *Engine) File(name string, size uint64, mode script.FileMode) error {
	if old := e.files[name]; old != nil {
		e.closeFile(old)
		delete(e.files, name)
	}
	rw, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("kernel: memfd_create: %w", err)
	}
	if size > math.MaxInt64 {
		unix.Close(rw)
		return syscall.EINVAL
	}
	if err := unix.Ftruncate(rw, int64(size)); err != nil {
		unix.Close(rw)
		return err
	}
	f := &kfile{fd: rw, rw: rw}
	if mode != script.FileRW {
		flag := unix.O_RDONLY
		if mode == script.FileWO {
			flag = unix.O_WRONLY
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", rw), flag|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(rw)
			return fmt.Errorf("kernel: reopen memfd: %w", err)
		}
		f.fd = fd
	}
	var st unix.Stat_t
	if err := unix.Fstat(rw, &st); err != nil {
		e.closeFile(f)
		return err
	}
	f.major, f.minor, f.ino = uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev)), st.Ino
	if e.files == nil {
		e.files = map[string]*kfile{}
	}
	e.files[name] = f
	if e.idents == nil {
		e.idents = map[[3]uint64]string{}
	}
	e.idents[[3]uint64{f.major, f.minor, f.ino}] = name
	return nil
}

func (e *Engine) closeFile(f *kfile) {
	if f.fd != f.rw {
		unix.Close(f.fd)
	}
	unix.Close(f.rw)
}

// closeFiles closes every script file (Reset). Mappings keep their files.
func (e *Engine) closeFiles() {
	for name, f := range e.files {
		e.closeFile(f)
		delete(e.files, name)
	}
	clear(e.idents)
}

func (e *Engine) file(name string) (*kfile, error) {
	f := e.files[name]
	if f == nil {
		return nil, fmt.Errorf("kernel: no file %q", name)
	}
	return f, nil
}

// MmapFile implements script.Engine.
func (e *Engine) MmapFile(off, length uint64, prot script.Prot, flags script.MapFlags, name string, foff uint64) (uint64, bool, error) {
	f, err := e.file(name)
	if err != nil {
		return 0, false, err
	}
	addr := e.base + off
	if flags&script.FlagFixed != 0 && flags&script.FlagNoreplace == 0 {
		if err := e.checkRange(addr, length, reachTaskSize); err != nil {
			return 0, false, err
		}
	}
	fl := mmapFlags(flags) &^ unix.MAP_ANONYMOUS
	r, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), uintptr(length), uintptr(prot),
		uintptr(fl), uintptr(f.fd), uintptr(foff))
	if errno != 0 {
		return 0, false, errno
	}
	placed, inside := e.placed(uint64(r), length)
	return placed, inside, nil
}

// Ftruncate implements script.Engine, through the descriptor the script
// opened.
func (e *Engine) Ftruncate(name string, size uint64) error {
	f, err := e.file(name)
	if err != nil {
		return err
	}
	return errnoErr(unix.Syscall(unix.SYS_FTRUNCATE, uintptr(f.fd), uintptr(size), 0))
}

// fileName gives the script name of the file with that device and inode.
func (e *Engine) fileName(v vma) string {
	return e.idents[[3]uint64{v.major, v.minor, v.ino}]
}
