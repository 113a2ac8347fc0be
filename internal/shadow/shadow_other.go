//go:build !(linux && amd64)

package shadow

import (
	"errors"
	"io"
	"os"
)

// Options configure Run.
type Options struct {
	Args                  []string
	Stdin, Stdout, Stderr *os.File
	Out                   io.Writer
	KeepGoing, Trace      bool
}

// Run needs Linux on x86-64: ptrace, /proc and its system call numbers.
func Run(o Options) (*Report, int, error) {
	return nil, 0, errors.New("shadow needs Linux on x86-64 (ptrace, /proc)")
}

func fdInfo(pid, fd int) (fileInfo, error) { return fileInfo{}, errors.New("no /proc") }
