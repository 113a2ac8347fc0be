package mm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/vmspace/vmspace/internal/frames"
)

// shmObject is the memory behind a mapping of an object: a shared
// anonymous mapping (the kernel backs MAP_SHARED|MAP_ANONYMOUS with a shmem
// file, "/dev/zero (deleted)"), or a file (file.go), whose pages it caches
// (the page cache of the file's address_space). One set of pages, indexed
// by page offset, seen through every shared mapping of it and read by the
// private ones, in this space or in any other.
type shmObject struct {
	id uint64 // immutable; for listings

	// size is a shared anonymous object's size in pages, fixed at mmap
	// (the shmem file's i_size): an access through a mapping beyond it,
	// after mremap grew the mapping, gets SIGBUS. Immutable.
	size uint64

	// file is the file behind a file object, nil for anonymous shared
	// memory; fid is its identity. Immutable.
	file File
	fid  FileID
	// bytes is a file object's size in bytes (i_size): changed by
	// Truncate, read by faults. Atomic.
	bytes atomic.Int64

	// mem is the arena of the object's frames (the process's for a
	// file's page cache, which every space shares). Immutable.
	mem *frames.Arena

	mu struct {
		sync.Mutex
		// pages maps offsets to frames; each holds one mapping of
		// its frame, the object's own. Guarded by mu.
		pages map[uint64]frames.Frame
		// spaces are the spaces that mapped a file object (file.go).
		spaces map[weak.Pointer[Space]]struct{}
	}
}

// limit is the number of pages the object has now: an access at a page
// offset at or past it gets SIGBUS (a file's partial last page counts).
func (o *shmObject) limit() uint64 {
	if o.file != nil {
		return pagesOf(o.bytes.Load())
	}
	return o.size
}

func newShm(mem *frames.Arena, pages uint64) *shmObject {
	o := &shmObject{id: anonIDs.Add(1), size: pages, mem: mem}
	o.mu.pages = make(map[uint64]frames.Frame)
	freeWithObject(o)
	return o
}

// freeWithObject gives o's frames back to the arena when the collector
// finds o unreachable, its last mapping gone (the kernel frees a shmem
// inode's pages at its last iput).
func freeWithObject(o *shmObject) {
	mem := o.mem
	runtime.AddCleanup(o, func(pages map[uint64]frames.Frame) {
		for _, f := range pages {
			mem.Unmap(f)
		}
	}, o.mu.pages)
}

// page returns the frame at offset idx, creating it (zero-filled, or read
// from the file), with one more mapping counted for the caller's slot. It
// returns frames.None beyond the object's size (shmem_fault's
// VM_FAULT_SIGBUS), on a read error, or when no frame can be had.
func (o *shmObject) page(idx uint64) frames.Frame {
	o.mu.Lock()
	defer o.mu.Unlock()
	// Checked under mu: Truncate publishes the new size before it empties
	// the cache under mu, so a page found or made here after the check is
	// either inside the new size or gone with the truncation's zap.
	if idx >= o.limit() {
		return frames.None
	}
	f, ok := o.mu.pages[idx]
	if !ok {
		var err error
		f, err = o.mem.Alloc(0) // this mapping is the object's own
		if err != nil {
			return frames.None
		}
		if o.file != nil {
			if err := o.fill(f, idx, o.bytes.Load()); err != nil {
				o.mem.Unmap(f)
				return frames.None // a read error is a SIGBUS, as filemap_fault's
			}
		}
		o.mem.MarkShared(f)
		o.mem.MarkClean(f) // the file's contents until written: reclaim may drop it
		o.mu.pages[idx] = f
	}
	o.mem.Map(f)
	return f
}

// resident reports whether the object holds the page at offset idx (what
// mincore reports for a shared mapping: the page cache, not the page
// table).
func (o *shmObject) resident(idx uint64) bool {
	if idx >= o.limit() {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.mu.pages[idx]
	return ok
}

// drop removes the page at offset idx if it is still f (reclaim of a clean
// shmem folio: __remove_mapping), dropping the object's own mapping.
// Precondition: the caller has removed every slot mapping f.
func (o *shmObject) drop(idx uint64, f frames.Frame) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if g, ok := o.mu.pages[idx]; ok && g == f {
		delete(o.mu.pages, idx)
		o.mem.Unmap(f)
	}
}
