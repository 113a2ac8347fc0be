//go:build !linux

package uffdtorture

import (
	"errors"
	"io"

	"github.com/vmspace/vmspace/uffd"
)

// ErrNotPermitted is Linux's; elsewhere Run returns uffd.ErrUnsupported.
var ErrNotPermitted = errors.New("userfaultfd not permitted")

// Run needs userfaultfd: Linux only.
func Run(cfg Config) (*Report, error) { return nil, uffd.ErrUnsupported }

// ClientMain needs userfaultfd: Linux only.
func ClientMain(spec string, out io.Writer) error { return uffd.ErrUnsupported }
