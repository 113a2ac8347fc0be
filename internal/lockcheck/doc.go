// Package lockcheck is vmspace's lock validator, a small lockdep.
//
// Built without the vmspace_lockcheck tag, every function here is empty and
// inlines to nothing. Built with it (go test -tags vmspace_lockcheck), each
// goroutine's held locks are tracked and these rules are checked, panicking
// with a description on the first violation:
//
//  1. The space lock is taken before area locks, never after: a goroutine
//     holding an area read lock must not block on the space lock, because a
//     writer that holds the space lock may be waiting for that very reader
//     to drain (the kernel's rule that vma_start_read may not be followed by
//     mmap_read_lock). A try-lock of the space lock is allowed: it cannot wait.
//  2. Area write locks are taken only by the goroutine holding the space lock
//     for writing.
//  3. A goroutine holds at most one space lock of a given space at a time
//     (no recursive read locking: Go's RWMutex deadlocks if a writer queues
//     between the two read acquisitions), and releases a space lock only in
//     the mode it holds it.
//  4. Shadow exclusion: an area never admits a reader while a writer or a
//     detacher excludes readers, exclusion never begins with a reader
//     inside, there is at most one excluder, and no reader leaves an area it
//     did not enter (checked by package arealock through
//     ReaderIn/ReaderOut/ExcludeBegin/ExcludeEnd).
//  5. A goroutine holding a space lock for writing takes no area read lock
//     (a write session that read-locked an area and then write-locked it
//     would wait for itself), and releases only area read locks it holds.
//  6. A goroutine that has returned from a call into the library holds no
//     lock (AssertNoneHeld, called by the torture workers after every
//     operation).
//
// The lock order, as a tree (a lock may be taken while holding its
// ancestors, never the other way round):
//
//	space lock (Space.lock: spacelock.Lock, the kernel's mmap_lock)
//	└── area lock (Area: arealock.Lock, the kernel's per-VMA lock)
//	    ├── space page-table lock (Space.ptl, the kernel's page_table_lock)
//	    │   └── shared-memory object lock (shmObject.mu)
//	    └── split page-table lock (pagetable.Table.PTL, the PTE lock), a leaf
//
// The two mutexes below the area lock are plain sync.Mutex: they are only
// ever taken innermost and released before anything else is locked, so the
// validator does not track them (a leaf cannot close a cycle).
//
// The tests of this package (lockcheck_test.go, tag vmspace_lockcheck)
// break each rule on purpose and expect the panic; internal/mm's
// lockcheck_test.go does the same through the real locks.
package lockcheck
