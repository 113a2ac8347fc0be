package frames

import "unsafe"

// heapChunk is the last resort: the chunk's bytes and metadata are
// pointer-free Go allocations, which the collector never scans (it still
// counts them in the heap size it paces by).
func heapChunk(frames int) *chunk {
	// (The metadata is the arena's, allocated once: newMetas.)
	data := make([]uint64, frames*wordsPerPage)
	return newChunk(unsafe.Pointer(&data[0]), frames)
}

// heapMetaFrames caps the frames of an arena whose metadata had to go on
// the Go heap: 16 MiB of metadata, 4 GiB of frames.
const heapMetaFrames = 1 << 20

// newMetas returns the metadata array for n frames: anonymous memory
// reserved up front and backed as it is touched, or, where mmap fails, a
// pointer-free Go array for at most heapMetaFrames frames (the arena's
// bound shrinks to fit).
func newMetas(n int, failMmap bool) []meta {
	if p := anonMap(n*int(unsafe.Sizeof(meta{})), failMmap); p != nil {
		return unsafe.Slice((*meta)(p), n)
	}
	return make([]meta, min(n, heapMetaFrames))
}
