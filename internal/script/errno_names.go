package script

import "syscall"

// errnoNames names the errnos by this platform's values, so that an engine
// returning syscall.EAGAIN prints EAGAIN wherever it runs. It covers every
// errno the Linux mm system calls return (EINVAL, ENOMEM, EEXIST, EFAULT,
// EAGAIN, EPERM, EBUSY, EACCES, EBADF, ENODEV, EOVERFLOW, ENFILE, ETXTBSY,
// EINTR, ENOSYS, EOPNOTSUPP, ...) and the rest of the classic set. Aliases
// (EWOULDBLOCK, EDEADLOCK, ENOTSUP on Linux) print as their first name.
var errnoNames = map[syscall.Errno]string{}

func init() {
	for _, n := range []struct {
		e    syscall.Errno
		name string
	}{
		{syscall.EPERM, "EPERM"},
		{syscall.ENOENT, "ENOENT"},
		{syscall.ESRCH, "ESRCH"},
		{syscall.EINTR, "EINTR"},
		{syscall.EIO, "EIO"},
		{syscall.ENXIO, "ENXIO"},
		{syscall.E2BIG, "E2BIG"},
		{syscall.ENOEXEC, "ENOEXEC"},
		{syscall.EBADF, "EBADF"},
		{syscall.ECHILD, "ECHILD"},
		{syscall.EAGAIN, "EAGAIN"},
		{syscall.ENOMEM, "ENOMEM"},
		{syscall.EACCES, "EACCES"},
		{syscall.EFAULT, "EFAULT"},
		{syscall.EBUSY, "EBUSY"},
		{syscall.EEXIST, "EEXIST"},
		{syscall.EXDEV, "EXDEV"},
		{syscall.ENODEV, "ENODEV"},
		{syscall.ENOTDIR, "ENOTDIR"},
		{syscall.EISDIR, "EISDIR"},
		{syscall.EINVAL, "EINVAL"},
		{syscall.ENFILE, "ENFILE"},
		{syscall.EMFILE, "EMFILE"},
		{syscall.ENOTTY, "ENOTTY"},
		{syscall.ETXTBSY, "ETXTBSY"},
		{syscall.EFBIG, "EFBIG"},
		{syscall.ENOSPC, "ENOSPC"},
		{syscall.ESPIPE, "ESPIPE"},
		{syscall.EROFS, "EROFS"},
		{syscall.EMLINK, "EMLINK"},
		{syscall.EPIPE, "EPIPE"},
		{syscall.EDOM, "EDOM"},
		{syscall.ERANGE, "ERANGE"},
		{syscall.EDEADLK, "EDEADLK"},
		{syscall.ENAMETOOLONG, "ENAMETOOLONG"},
		{syscall.ENOLCK, "ENOLCK"},
		{syscall.ENOSYS, "ENOSYS"},
		{syscall.ENOTEMPTY, "ENOTEMPTY"},
		{syscall.ELOOP, "ELOOP"},
		{syscall.EOVERFLOW, "EOVERFLOW"},
		{syscall.EOPNOTSUPP, "EOPNOTSUPP"},
		{syscall.ENOTSUP, "ENOTSUP"},
		{syscall.ECANCELED, "ECANCELED"},
		{syscall.EWOULDBLOCK, "EWOULDBLOCK"},
	} {
		if _, dup := errnoNames[n.e]; !dup {
			errnoNames[n.e] = n.name
		}
	}
	addPlatformErrnos()
}
