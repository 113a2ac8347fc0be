package mm

import (
	"runtime"
	"sync"

	"github.com/vmspace/vmspace/internal/frames"
)

// shmObject is the memory behind a shared anonymous mapping (the kernel
// backs MAP_SHARED|MAP_ANONYMOUS with a shmem file, "/dev/zero (deleted)"):
// one set of pages, indexed by page offset, seen through every mapping of
// it, in this space or in a forked child.
type shmObject struct {
	id uint64 // immutable; for listings

	// size is the object's size in pages, fixed at mmap (the shmem
	// file's i_size): an access through a mapping beyond it, after
	// mremap grew the mapping, gets SIGBUS. Immutable.
	size uint64

	// mem is the arena of the object's frames. Immutable.
	mem *frames.Arena

	mu struct {
		sync.Mutex
		// pages maps offsets to frames; each holds one mapping of
		// its frame, the object's own. Guarded by mu.
		pages map[uint64]frames.Frame
	}
}

func newShm(mem *frames.Arena, pages uint64) *shmObject {
	o := &shmObject{id: anonIDs.Add(1), size: pages, mem: mem}
	o.mu.pages = make(map[uint64]frames.Frame)
	// The object's frames go back to the arena when the last mapping of
	// it is gone and the collector finds it unreachable (the kernel
	// frees the shmem inode's pages at its last iput).
	runtime.AddCleanup(o, func(pages map[uint64]frames.Frame) {
		for _, f := range pages {
			mem.Unmap(f)
		}
	}, o.mu.pages)
	return o
}

// page returns the frame at offset idx, creating it zero-filled, with one
// more mapping counted for the caller's slot. It returns frames.None
// beyond the object's size (shmem_fault's VM_FAULT_SIGBUS), or when no
// frame can be had.
func (o *shmObject) page(idx uint64) frames.Frame {
	if idx >= o.size {
		return frames.None
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	f, ok := o.mu.pages[idx]
	if !ok {
		var err error
		f, err = o.mem.Alloc(0) // this mapping is the object's own
		if err != nil {
			return frames.None
		}
		o.mem.MarkShared(f)
		o.mem.MarkClean(f) // zeroes until written: reclaim may drop it
		o.mu.pages[idx] = f
	}
	o.mem.Map(f)
	return f
}

// resident reports whether the object holds the page at offset idx (what
// mincore reports for a shared mapping: the page cache, not the page
// table).
func (o *shmObject) resident(idx uint64) bool {
	if idx >= o.size {
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
