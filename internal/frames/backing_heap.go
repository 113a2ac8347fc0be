package frames

import "unsafe"

// heapChunk is the last resort: the chunk's bytes and metadata are
// pointer-free Go allocations, which the collector never scans (it still
// counts them in the heap size it paces by).
func heapChunk(frames int) *chunk {
	data := make([]uint64, frames*wordsPerPage)
	m := make([]meta, frames)
	return &chunk{data: unsafe.Pointer(&data[0]), meta: &m[0], keep: data, keepMeta: m}
}
