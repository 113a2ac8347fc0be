package frames

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// newChunkLocked maps chunk i, falling from memfd to anonymous memory to
// the Go heap as each fails, and remembers the fallback for later chunks.
// Precondition: a.grow held.
func (a *Arena) newChunkLocked(i int) (*chunk, error) {
	frames := int(a.chunkMask) + 1
	size := frames * PageSize
	if a.grow.backing == Memfd {
		if p, err := a.memfdChunkLocked(i, size); err == nil {
			return newChunk(p, frames), nil
		}
		a.grow.backing = Anonymous
	}
	if a.grow.backing == Anonymous {
		if p := anonMap(size, a.opts.failMmap); p != nil {
			return newChunk(p, frames), nil
		}
		a.grow.backing = Heap
	}
	return heapChunk(frames), nil
}

// memfdChunkLocked grows the memfd by a chunk and maps the new part.
func (a *Arena) memfdChunkLocked(i, size int) (unsafe.Pointer, error) {
	if a.opts.failMemfd {
		return nil, unix.ENOSYS
	}
	if a.grow.fd < 0 {
		fd, err := unix.MemfdCreate("vmspace-frames", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, err
		}
		a.grow.fd = fd
	}
	off := int64(i) * int64(size)
	if err := unix.Ftruncate(a.grow.fd, off+int64(size)); err != nil {
		return nil, err
	}
	p, err := unix.MmapPtr(a.grow.fd, off, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Ftruncate(a.grow.fd, off)
		return nil, err
	}
	return p, nil
}

// anonMap maps size bytes of zeroed anonymous memory, or returns nil.
func anonMap(size int, fail bool) unsafe.Pointer {
	if fail {
		return nil
	}
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return p
}
