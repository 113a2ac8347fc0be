//go:build !linux

package frames

// newChunkLocked: without memfd and mmap here, chunks are Go memory.
// Precondition: a.grow held.
func (a *Arena) newChunkLocked(i int) (*chunk, error) {
	a.grow.backing = Heap
	return heapChunk(int(a.chunkMask) + 1), nil
}
