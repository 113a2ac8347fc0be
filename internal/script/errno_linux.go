package script

import "golang.org/x/sys/unix"

// addPlatformErrnos adds the Linux-only errno of the mm calls: EHWPOISON,
// which madvise(MADV_POPULATE_*) returns on a poisoned page. The syscall
// package lacks it; x/sys has its value for every architecture.
func addPlatformErrnos() {
	errnoNames[unix.EHWPOISON] = "EHWPOISON"
}
