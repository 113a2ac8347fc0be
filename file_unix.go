//go:build unix

package vmspace

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// osIdent reads f's device, inode and open mode.
func osIdent(f *os.File) (id FileID, r, w bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return id, false, false, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return id, false, false, errors.New("vmspace: no device and inode for " + f.Name())
	}
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return id, false, false, err
	}
	switch fl & unix.O_ACCMODE {
	case unix.O_RDONLY:
		r = true
	case unix.O_WRONLY:
		w = true
	case unix.O_RDWR:
		r, w = true, true
	}
	return FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}, r, w, nil
}
