// Package mm is the implementation of a vmspace address space: the area
// tree, the write sessions that change it, and the fault path that reads it
// without locks. The root package vmspace is a thin wrapper around it.
//
// Names, with the kernel's: Space is the mm_struct, Area a vm_area_struct,
// the space lock is mmap_lock (package spacelock), an area's lock is the
// per-VMA lock (package arealock), the tree is the maple tree (package
// tree), the page table is package pagetable, and the pages' memory
// (physical memory, struct page) is package frames.
//
// # Lock order
//
// As a tree; a lock may be taken while holding its ancestors only. The
// validator in package lockcheck (build tag vmspace_lockcheck) checks it.
//
//	Space.lock (space lock, read or write)
//	├── files (the page-cache registry, file.go; taken by MapFile)
//	└── Area lock (read: the fault path; write: only under the space write lock)
//	    ├── Space.ptl (anon_vma assignment; page_table_lock)
//	    │   └── shmObject.mu (pages of a shared or file object, and the
//	    │       spaces mapping a file)
//	    └── page-table lock (pagetable.Table.PTL: the split PTE lock), a leaf
//
// The frame arena's locks (a free-list shard, the grow lock) are leaves
// below all of these: any of them may be held while a frame is allocated
// or freed.
//
// The page-table lock orders a write fault's two decisions on a private
// page: reuse in place and install of a copy. A copier checks under it
// that the slot still holds the page and that the page is still shared; a
// reuser of a page that was ever shared decides under it (fault.go:
// installCopy, reusable). Without it, a copier that decided while the page
// was shared could install its copy over a write that a reuser made after
// the other mapping went away (the lost write that torture found).
//
// An Observer (observer.go) runs at commit under the space write lock with
// the areas concerned write-locked, and takes none of these locks. It is
// told only the ranges whose protection the session changed, never the
// untouched parts of areas it merged or split. An Orderer's Order runs
// before a write session takes the space lock (begin), holding nothing,
// and may wait for the orderer's own write sessions; it sits above
// Space.lock, so no goroutine may ask for a write session while it holds
// an area handle of that space.
//
// Truncate holds no lock while it takes, one space after the other, the
// space lock of each space that maps the file (Linux's truncation walks the
// file's i_mmap tree under i_mmap_rwsem and takes no mmap_lock; here the
// space write lock stands for the page-table locks of the areas it zaps).
//
// # File faults
//
// A fault on a file area runs under the area's read lock, as Linux's do
// for files whose vm_ops have map_pages (filemap and shmem, which
// vmf_can_call_fault lets through): the page-cache lookup needs only
// shmObject.mu and the file's size is an atomic. Two cases leave it: the
// first write to a private file area that has no anon_vma yet, which
// chooses one from the neighbours and so try-locks the space lock and
// retries under it when that fails (vmf_anon_prepare, as for anonymous
// memory); and the lockless lookup's own give-ups (a write-locked or
// detached area).
//
// A goroutine holding an area read lock may try-lock the space lock for
// reading (vmf_anon_prepare does the same), but never block on it.
//
// # Who protects what
//
// The tree is published at commit (a seqcount over its root) and read
// without locks: lookups (Tree.Find) validate per-node seqcounts and retry,
// listings pin a Snapshot and release it (package tree); it changes only
// under the space write lock. An Area's range, offset and
// flags change only while the space write lock is held and the area is
// write-locked (stamped) or not yet attached; they are read under the
// area's read lock or the space lock. The fields a lockless reader touches
// before holding the area (its lock word, stamp and space pointer) are
// atomic. Pages are installed with compare-and-swap (package pagetable);
// they are removed, moved and marked (munmap, mremap, madvise) only at a
// write session's commit, while every area over them is write-locked or
// detached (pageops.go), or, for MADV_DONTNEED and MADV_FREE inside one
// area, under that area's read lock with compare-and-swap
// (madvise_lockless.go). A private page's copy replaces it only under the
// slot's page-table lock.
//
// Slots hold frame numbers, not references: a frame can be freed (by
// MADV_DONTNEED under an area read lock, or by the copy-on-write of its
// last other mapping) while a fault that loaded its number is still
// working. Whoever touches a frame's bytes or marks it after loading it
// from a slot first takes a reference and re-checks the slot (holdFrame,
// fault.go); the frame then waits for that reference before it can be
// reused (package frames, "The reuse rule"). Paths that hold the slot
// still (a write session's commit) use the slot's own mapping instead.
package mm
