package vmspace

import (
	"os"

	"golang.org/x/sys/unix"
)

// mountNoExec reports whether f lies on a noexec mount (path_noexec).
func mountNoExec(f *os.File) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Flags&unix.ST_NOEXEC != 0
}
