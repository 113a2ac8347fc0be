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

	mu struct {
		sync.Mutex
		pages map[uint64]*pagetable.Page // guarded by mu
	}
}

func newShm() *shmObject {
	o := &shmObject{id: anonIDs.Add(1)}
	o.mu.pages = make(map[uint64]*pagetable.Page)
	return o
}

// page returns the page at offset idx, creating it zero-filled, with one
// more mapping counted for the caller's slot.
func (o *shmObject) page(idx uint64) *pagetable.Page {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.mu.pages[idx]
	if p == nil {
		p = pagetable.NewPage() // this count is the object's own reference
		p.Shared = true
		o.mu.pages[idx] = p
	}
	p.Get()
	return p
}
