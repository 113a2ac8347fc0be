package mm

import (
	"sync"

	"github.com/vmspace/vmspace/internal/pagetable"
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

	mu struct {
		sync.Mutex
		pages map[uint64]*pagetable.Page // guarded by mu
	}
}

func newShm(pages uint64) *shmObject {
	o := &shmObject{id: anonIDs.Add(1), size: pages}
	o.mu.pages = make(map[uint64]*pagetable.Page)
	return o
}

// page returns the page at offset idx, creating it zero-filled, with one
// more mapping counted for the caller's slot. It returns nil beyond the
// object's size (shmem_fault's VM_FAULT_SIGBUS).
func (o *shmObject) page(idx uint64) *pagetable.Page {
	if idx >= o.size {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.mu.pages[idx]
	if p == nil {
		p = pagetable.NewPage() // this count is the object's own reference
		p.Shared = true
		p.MarkClean() // zeroes until written: reclaim may drop it
		o.mu.pages[idx] = p
	}
	p.Get()
	return p
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
	return o.mu.pages[idx] != nil
}

// drop removes the page at offset idx if it is still p (reclaim of a clean
// shmem folio: __remove_mapping), dropping the object's own reference.
// Precondition: the caller has removed every slot mapping p.
func (o *shmObject) drop(idx uint64, p *pagetable.Page) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.mu.pages[idx] == p {
		delete(o.mu.pages, idx)
		p.Put()
	}
}
