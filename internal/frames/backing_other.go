//go:build !linux

package frames

import "unsafe"

// newChunkLocked: without memfd and mmap here, chunks are Go memory.
// Precondition: a.grow held.
func (a *Arena) newChunkLocked(i int) (*chunk, error) {
	a.grow.backing = Heap
	return heapChunk(int(a.chunkMask) + 1), nil
}

// anonMap: no mmap here.
func anonMap(size int, fail bool) unsafe.Pointer { return nil }
