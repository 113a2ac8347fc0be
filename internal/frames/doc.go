// Package frames holds the memory behind a vmspace's pages: an arena of
// 4 KiB frames that the garbage collector never sees, named by frame
// numbers instead of pointers, with their metadata in off-heap arrays (the
// kernel's physical memory, struct page and the page allocator, in small;
// gVisor's pgalloc.MemoryFile is the Go peer).
//
// # Memory
//
// An Arena grows in chunks (64 MiB by default). Each chunk is a range of a
// memfd mapped shared (memfd_create + mmap, as pgalloc does); where memfd is
// missing the chunk is anonymous memory (mmap MAP_ANONYMOUS), and where even
// that fails, a pointer-free Go allocation, which the collector never scans
// (Backing says which). The metadata, 16 bytes per frame, is one array for
// the arena's whole capacity, indexed by frame number: anonymous memory
// reserved up front and backed by the kernel as it is touched (or, in the
// last fallback, a pointer-free Go array that bounds the arena to 4 GiB).
// Chunks are never unmapped: a frame number, once handed out,
// names valid memory for the arena's life, so a reader holding a stale
// number can always load from it safely; what it must not do is trust the
// bytes, which the reuse rule below is about.
//
// Frame contents are 64-bit words accessed with atomic operations (ByteAt,
// SetByte), so that byte reads and writes racing on one page are each
// linearizable, as on real memory. A frame nobody else can reach (just
// allocated, not yet published) is filled with plain stores.
//
// # The reuse rule and how it is kept
//
// A frame is never reused while anyone can still read or write it. Each
// frame has a reference count (the kernel's folio refcount) and a mapping
// count (its mapcount); every mapping holds a reference, and a frame goes
// back to the free list only when its reference count reaches 0. A reader
// that found a frame number in a page-table slot without owning a
// reference takes one with TryRef, which fails on a free frame (the
// kernel's get_page_unless_zero), and then checks that the slot still
// holds the frame; only then may it touch the bytes, until Unref. A frame
// freed and reused between the slot load and the TryRef is caught by that
// second check (the slot no longer names it), so the reader never sees
// another owner's bytes nor writes into them. Paths that only compare
// frame numbers or read counts need no reference: metadata is never freed.
//
// Why references and not a grace period (epochs): readers that touch
// bytes (ReadAt, WriteAt, a copy-on-write copy) do a page's worth of work,
// beside which two atomic operations on the frame's metadata are small,
// while the hot path that touches no bytes (a fault on a present page)
// needs neither. An epoch scheme would charge every fault an enter and an
// exit on a shared reader counter, and Go gives no cheap per-P slot to
// shard it by; it would also need a deferred-free queue and someone to
// drive it. With references the frame waits for its last reader instead:
// Stats.Held counts frames unmapped everywhere but still referenced, the
// analogue of frames waiting for a grace period.
//
// # Free lists
//
// Free frames sit on sharded LIFO lists linked through their metadata;
// a goroutine picks its shard from its stack address (stable for a
// goroutine, different between goroutines), so goroutines on different
// CPUs rarely share a shard lock. An empty shard steals a batch from the
// others before the arena grows.
//
// # Locks
//
// Leaf locks: a shard's mutex, and the arena's grow mutex, are taken with
// no other lock of this package held (grow pushes the new frames after
// releasing it). Callers may hold any of their own locks. Reference and
// mapping counts and flags are atomic; the free-list link of a frame is
// written only while the frame is free, under its shard's mutex.
package frames
