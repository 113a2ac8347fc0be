//go:build !linux

package vmspace

import "os"

// mountNoExec: noexec mounts are read only on Linux.
func mountNoExec(f *os.File) bool { return false }
