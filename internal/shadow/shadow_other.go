//go:build !(linux && amd64)

package shadow

import (
	"errors"
	"io"
	"os"

	"github.com/vmspace/vmspace"
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

func fdFile(pid, fd int) (vmspace.File, error) { return nil, errors.New("no /proc") }

func lineFile(pid int, l Line, vf map[string]bool) vmspace.File { return nil }

func stackLimit(pid int) uint64 { return 0 }

func devString(dev uint64) string { return "" }
