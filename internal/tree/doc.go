// Package tree holds an address space's areas: a set of non-overlapping
// [Start, End) ranges that page-fault readers search without any lock while a
// single writer (the holder of the space's write lock) changes it.
//
// # Design
//
// It is a copy-on-write B+tree whose nodes are recycled, with one exception:
// a Txn whose only write is a Replace that stays inside one leaf with room
// changes that published leaf in place at Commit (inplace.go). Otherwise a
// writer never changes a node that a published version can reach: within a
// Txn it copies each node on the path to its change, changes the copies, and
// Commit publishes the new root (four fields under a seqcount). This is the kernel's
// RCU scheme (the maple tree publishes new nodes with rcu_assign_pointer),
// including its hardest part: the replaced nodes are reused, not left to the
// garbage collector, so a write in steady state allocates nothing. Values
// live inside the leaves, in cells of the caller's type (Cell), and are
// recycled with them. recycle.go, lockless.go and cell.go hold the
// argument; in short:
//
//   - Every node has a seqcount, odd from the commit that unlinks it, through
//     its time on a free list and its refill as a new copy, until the commit
//     that publishes it; even while it belongs to a published version, whose
//     nodes are written only by an in-place Commit, which makes each node it
//     changes odd first (ancestors before the leaf) and even after. Every field a lockless reader reads is an
//     atomic, because a stale reader may be reading a node while it is
//     refilled.
//   - Lockless lookups (Tree.Find, FindVal, First, Last: the fault path)
//     register nowhere and take nothing. They walk hand over hand,
//     re-checking each parent's seq after reading the child's, and the
//     leaf's after copying the item, value included, and restart from the
//     root when a check fails. A commit retires (makes odd) everything it
//     unlinked before anything can be reused, and an in-place commit keeps
//     every node it changes odd while any of them changes, so a successful
//     walk saw one published version, current at some moment of the call. Nodes are
//     reused only as nodes of the same kind (type-stable, as
//     SLAB_TYPESAFE_BY_RCU), so a stale pointer always leads to a node.
//     What a lookup returns is a copy made inside that window: no pointer
//     into the tree survives the call, so nothing a caller holds can be
//     rewritten under it.
//   - Snapshots (Tree.Snapshot: the listing, invariant checks) pin the
//     version: O(1) to take (an atomic add, a flag and a seqcount read),
//     retried only while an in-place Commit is inside its short wait-free
//     section, never blocking a writer: a Commit that sees a pin copies
//     instead of writing in place (a Dekker handshake, inplace.go). While any Snapshot is pinned, a
//     commit puts what it unlinks in limbo instead of on the free lists; the
//     first Txn that sees no pin frees limbo. Release unpins.
//
// Generation tagging. Each Txn gets a fresh generation number and stamps it on
// every node it takes. A node carrying the Txn's own generation was made by
// this Txn and is not yet reachable from any published root, so the Txn
// changes it in place; any other node is copied first. A Txn that makes many
// changes thus copies each node once, not once per change. Abort returns the
// Txn's nodes to the free lists; the published tree was never touched.
//
// Writers. There is one writer at a time (the caller serializes Txns; the
// space's write lock). This design does not yet allow writers on disjoint
// ranges to run in parallel, but it no longer rules it out. On the reader
// side all is there: readers validate per node, not per version, tolerate
// nodes refilled under them, and since in-place writes, nodes changed under
// them while linked (odd, changed, even; ancestors first when their
// summaries change). A commit that fits in one leaf touches only that leaf
// and the ancestors whose summaries change, and publishes the root only for
// its count. What range-split writers would still need: (1) the count out of
// the root (per-writer deltas, or Len from a counter), so that an in-place
// commit touches no shared word; (2) a per-node writer lock (a CAS of the
// seq from even to odd would do) so that two writers whose paths share an
// ancestor whose summary both change serialize on it, taken top-down so
// that they cannot deadlock; (3) splits,
// merges and rebalancing, which copy the path today, to lock the parent and
// both siblings, or to fall back to the one-writer path under an exclusive
// lock; (4) the Snapshot handshake per writer (a count of writers inside
// in-place sections instead of one flag); (5) the recycler's lists per
// writer or locked. See docs/perf.md for what in-place writes saved.
//
// Layout. Leaves hold up to 29 items in an array inside the node and internal
// nodes up to 16 children (node.go explains the sizes); all leaves are at the
// same depth, and nodes other than the root stay at least half full. A write
// lets a node overflow by one slot or underflow, and the parent then repairs
// it: an overfull node first spills into a neighbour with room and splits only
// when both neighbours are full, so leaves stay full when areas are added in
// address order (as mmap's top-down placement does) instead of settling at half
// full as with plain splits. The root records the item count, so Len is O(1).
//
// Gaps. For each child an internal node stores the child's first Start (the
// separator that routes lookups), its last End, and the largest gap between two
// items inside it, like the maple tree's gap array. The gap between two
// neighbouring children is the next child's Start minus this child's End. That
// lets HighestGap and LowestGap (Linux's unmapped_area_topdown and
// unmapped_area) skip every subtree whose gaps are too small and find an answer
// in O(log n); gap.go has the argument.
//
// # Cost
//
// Measured on a 2-vCPU AMD EPYC virtual machine shared with other jobs; see
// docs/perf.md for the runs, the load and the figures of the whole Map+Unmap
// pair. Memory per item at 1,000,000 items (TestMemoryPerItem): 37.4 bytes
// built in bulk for a 16-byte value (was 44.6 with a 16-byte box per value,
// 35.7 before recycling): a 992-byte leaf holds 29 slots of 32 bytes.
//
// A write in steady state allocates nothing (TestSteadyStateAllocs: 0
// allocations per insert and delete). One that fits in a leaf writes only
// the slots it changes and the suffix it shifts, in place
// (BenchmarkReplace: 793 copied bytes per insert+delete pair at 1,000 items,
// 2,787 when every write copied its path; TestInPlaceWriteCopiesLittle).
// Any other write copies the path to its leaf into nodes taken from the
// free lists. What it still pays is the copy itself: every word goes
// in with an atomic store (an XCHG on amd64, about 4 ns against a fraction of
// a nanosecond for a memmove), because a stale reader may be in the node.
// Words that already hold the right value are not stored, and a leaf's slots
// are compared whole first, which in an insert-then-delete pattern skips most
// of them (the node refilled is the previous version of the same node).
//
// Why values in cells and not boxes recycled like nodes: a box outlives the
// lookup that found it (the caller holds the pointer), and lockless readers
// register nowhere, so the writer could never know when a box it unlinked is
// no longer held; reusing it at any point would let a caller read a value
// being rewritten. Only the collector knew, at one allocation per item
// written. A cell is read only inside the validated window, so the leaf's
// seqcount covers it, and it is reused exactly when its leaf is. The price:
// FindVal returns the value, not a pointer to it (the fault path copies the
// 32-byte entry it needs out in registers), V must be stored as atomic words
// (the caller's Cell), and a slot carries the value's size instead of a
// pointer's. docs/perf.md has the measurements and the alternatives tried.
//
// Find through Tree.Find costs what Snapshot.Find did (BenchmarkFindLockless
// beside BenchmarkFind): the re-checks are plain loads on amd64 and hit lines
// the walk has just read.
package tree
