package frames

import "unsafe"

// heapChunk is the last resort: the chunk's bytes and metadata are
// pointer-free Go allocations, which the collector never scans (it still
// counts them in the heap size it paces by).
func heapChunk(frames int) *chunk {
	data := make([]uint64, frames*wordsPerPage)
	return newChunk(unsafe.Pointer(&data[0]), make([]meta, frames), frames)
}
