//go:build !linux || !(amd64 || arm64)

package kernel

import "github.com/vmspace/vmspace/internal/script"

// Supported reports whether this platform can run the kernel engine: only
// Linux on amd64 or arm64 can, and this is not it.
func Supported() bool { return false }

// Engine is the kernel engine; on this platform it cannot be made.
type Engine struct{}

// New fails with ErrUnsupported on this platform.
func New() (*Engine, error) { return nil, ErrUnsupported }

// Reset does nothing on this platform.
func (e *Engine) Reset() error { return nil }

// Close does nothing on this platform.
func (e *Engine) Close() error { return nil }

func (e *Engine) Mmap(off, length uint64, prot script.Prot, flags script.MapFlags) (uint64, bool, error) {
	return 0, false, ErrUnsupported
}
func (e *Engine) Munmap(off, length uint64) error                     { return ErrUnsupported }
func (e *Engine) Mprotect(off, length uint64, prot script.Prot) error { return ErrUnsupported }
func (e *Engine) Mremap(off, oldLen, newLen uint64, mayMove, fixed bool, newOff uint64, dontUnmap bool) (uint64, bool, error) {
	return 0, false, ErrUnsupported
}
func (e *Engine) Madvise(off, length uint64, advice script.Advice) error { return ErrUnsupported }
func (e *Engine) Touch(off uint64, val byte) error                       { return ErrUnsupported }
func (e *Engine) Read(off uint64) (byte, error)                          { return 0, ErrUnsupported }
func (e *Engine) Mincore(off, length uint64) ([]bool, error)             { return nil, ErrUnsupported }
func (e *Engine) Maps() ([]script.Area, error)                           { return nil, ErrUnsupported }

func (e *Engine) File(name string, size uint64, mode script.FileMode) error { return ErrUnsupported }
func (e *Engine) MmapFile(off, length uint64, prot script.Prot, flags script.MapFlags, name string, foff uint64) (uint64, bool, error) {
	return 0, false, ErrUnsupported
}
func (e *Engine) Ftruncate(name string, size uint64) error { return ErrUnsupported }
func (e *Engine) Heap(off uint64) error                    { return ErrUnsupported }
func (e *Engine) Brk(off uint64) (uint64, error)           { return 0, ErrUnsupported }

// ErrNoBrk is returned where the engine cannot use the process's break.
var ErrNoBrk = ErrUnsupported

var _ script.Engine = (*Engine)(nil)
