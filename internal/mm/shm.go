package mm

import (
	"sync"
	"sync/atomic"
	"weak"

	"github.com/vmspace/vmspace/internal/pagetable"
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

	mu struct {
		sync.Mutex
		pages map[uint64]*pagetable.Page // guarded by mu
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

func newShm(pages uint64) *shmObject {
	o := &shmObject{id: anonIDs.Add(1), size: pages}
	o.mu.pages = make(map[uint64]*pagetable.Page)
	return o
}

// page returns the page at offset idx, creating it zero-filled, with one
// more mapping counted for the caller's slot. It returns nil beyond the
// object's size (shmem_fault's VM_FAULT_SIGBUS).
func (o *shmObject) page(idx uint64) *pagetable.Page {
	o.mu.Lock()
	defer o.mu.Unlock()
	// Checked under mu: Truncate publishes the new size before it empties
	// the cache under mu, so a page found or made here after the check is
	// either inside the new size or gone with the truncation's zap.
	if idx >= o.limit() {
		return nil
	}
	p := o.mu.pages[idx]
	if p == nil {
		p = pagetable.NewPage() // this count is the object's own reference
		p.Shared = true
		if o.file != nil {
			if err := o.fill(p, idx, o.bytes.Load()); err != nil {
				return nil // a read error is a SIGBUS, as filemap_fault's
			}
		}
		p.MarkClean() // the file's contents until written: reclaim may drop it
		o.mu.pages[idx] = p
	}
	p.Get()
	return p
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
