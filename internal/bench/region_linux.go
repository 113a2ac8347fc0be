package bench

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Region bases to try: far below the top-down mmap area (just under
// 0x7f..., where the runtime's and libc's mappings go), below the Go
// heap's hint at 0x10c0_0000_0000 (the heap only gets there after sixteen
// lower hints failed), and outside the race detector's shadow
// (0x2000_0000_0000 to 0x4000_0000_0000). internal/kernel's engine starts
// at 0x1000_0000_0000; these start above it so both can live in one
// process.
var regionCandidates = []uintptr{0x120000000000, 0x140000000000, 0x160000000000, 0x180000000000, 0x1a0000000000, 0x500000000000, 0x540000000000}

// regionLimit is the most one region may span: candidates are 2^41 apart.
const regionLimit = 1 << 40

var (
	regionMu    sync.Mutex
	regionInUse = map[uintptr]bool{}
)

// KernelRegion is a stretch of this process's address space that nothing
// mapped when it was found, where the kernel engine and the kernel
// benchmarks make real mappings at known offsets. It is found with a
// MAP_FIXED_NOREPLACE probe (which fails with EEXIST over any mapping) and
// unmapped again at once, so it starts empty and mappings made in it are
// new VMAs, not replacements of a reservation.
type KernelRegion struct {
	base unsafe.Pointer
	size uintptr
}

// NewKernelRegion finds a free region of size bytes that no other region
// of this process uses.
func NewKernelRegion(size uintptr) (*KernelRegion, error) {
	if os.Getpagesize() != pageSize {
		return nil, errors.New("kernel region: needs 4 KiB pages")
	}
	if size == 0 || size > regionLimit {
		return nil, fmt.Errorf("kernel region: bad size %#x", size)
	}
	// Addresses are derived from a real mapping's pointer with unsafe.Add,
	// not converted from integers.
	seed, err := unix.MmapPtr(-1, 0, nil, pageSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("kernel region: mmap: %w", err)
	}
	defer unix.MunmapPtr(seed, pageSize)
	regionMu.Lock()
	defer regionMu.Unlock()
	for _, c := range regionCandidates {
		if regionInUse[c] {
			continue
		}
		want := unsafe.Add(seed, int(c-uintptr(seed)))
		p, err := unix.MmapPtr(-1, 0, want, size, unix.PROT_NONE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED_NOREPLACE)
		if err != nil {
			continue
		}
		unix.MunmapPtr(p, size)
		if p == want { // not a kernel that took NOREPLACE as a mere hint
			regionInUse[c] = true
			return &KernelRegion{base: p, size: size}, nil
		}
	}
	return nil, errors.New("kernel region: no free region")
}

// Addr returns the region's first address.
func (r *KernelRegion) Addr() uintptr { return uintptr(r.base) }

func (r *KernelRegion) at(off uint64) unsafe.Pointer { return unsafe.Add(r.base, int(off)) }

// Map maps anonymous private memory at off with MAP_FIXED (mmap).
func (r *KernelRegion) Map(off, length uint64, prot int) error {
	_, err := unix.MmapPtr(-1, 0, r.at(off), uintptr(length), prot,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	return err
}

// Unmap unmaps [off, off+length) (munmap).
func (r *KernelRegion) Unmap(off, length uint64) error {
	return unix.MunmapPtr(r.at(off), uintptr(length))
}

// Protect changes the protection of [off, off+length) (mprotect).
func (r *KernelRegion) Protect(off, length uint64, prot int) error {
	return unix.Mprotect(unsafe.Slice((*byte)(r.at(off)), int(length)), prot)
}

// DontNeed drops the pages of [off, off+length) (madvise MADV_DONTNEED).
func (r *KernelRegion) DontNeed(off, length uint64) error {
	return unix.Madvise(unsafe.Slice((*byte)(r.at(off)), int(length)), unix.MADV_DONTNEED)
}

// Touch writes a byte at off: a real page fault if the page is not
// present. The caller must have mapped it writable.
func (r *KernelRegion) Touch(off uint64) { *(*byte)(r.at(off)) = 1 }

// Close unmaps the whole region and lets it be found again.
func (r *KernelRegion) Close() error {
	err := unix.MunmapPtr(r.base, r.size)
	regionMu.Lock()
	delete(regionInUse, uintptr(r.base))
	regionMu.Unlock()
	return err
}

// kernelRelease returns uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
