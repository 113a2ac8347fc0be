//go:build !linux

package bench

import "errors"

// KernelRegion is a region of this process for real mappings; Linux only.
type KernelRegion struct{}

// NewKernelRegion fails on this platform.
func NewKernelRegion(size uintptr) (*KernelRegion, error) {
	return nil, errors.New("kernel region: Linux only")
}

func (r *KernelRegion) Addr() uintptr                              { return 0 }
func (r *KernelRegion) Map(off, length uint64, prot int) error     { return errors.ErrUnsupported }
func (r *KernelRegion) Unmap(off, length uint64) error             { return errors.ErrUnsupported }
func (r *KernelRegion) Protect(off, length uint64, prot int) error { return errors.ErrUnsupported }
func (r *KernelRegion) DontNeed(off, length uint64) error          { return errors.ErrUnsupported }
func (r *KernelRegion) Touch(off uint64)                           {}
func (r *KernelRegion) Close() error                               { return nil }

func kernelRelease() string { return "" }
