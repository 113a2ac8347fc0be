// Package tree holds an address space's areas: a set of non-overlapping
// [Start, End) ranges that page-fault readers search without any lock while a
// single writer (the holder of the space's write lock) changes it.
//
// # Design
//
// It is a copy-on-write B+tree whose nodes are recycled. A writer never
// changes a node that a published version can reach: within a Txn it copies
// each node on the path to its change, changes the copies, and Commit
// publishes the new root (four fields under a seqcount). This is the kernel's
// RCU scheme (the maple tree publishes new nodes with rcu_assign_pointer),
// including its hardest part: the replaced nodes are reused, not left to the
// garbage collector, so a write in steady state allocates nothing but the box
// of the value it inserts. recycle.go and lockless.go hold the argument; in
// short:
//
//   - Every node has a seqcount, odd from the commit that unlinks it, through
//     its time on a free list and its refill as a new copy, until the commit
//     that publishes it; even while it belongs to a published version, whose
//     nodes are never written. Every field a lockless reader reads is an
//     atomic, because a stale reader may be reading a node while it is
//     refilled.
//   - Lockless lookups (Tree.Find, First, Last: the fault path) register
//     nowhere and take nothing. They walk hand over hand, re-checking each
//     parent's seq after reading the child's, and the leaf's after copying
//     the item, and restart from the root when a check fails. A commit
//     retires (makes odd) everything it unlinked before anything can be
//     reused, so a successful walk saw one published version, current at
//     some moment of the call. Nodes are reused only as nodes of the same
//     kind (type-stable, as SLAB_TYPESAFE_BY_RCU), so a stale pointer always
//     leads to a node.
//   - Snapshots (Tree.Snapshot: the listing, invariant checks) pin the
//     version: O(1) to take (an atomic add and a seqcount read), never
//     retried, never blocking a writer. While any Snapshot is pinned, a
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
// space's write lock). This design does not allow writers on disjoint ranges
// to run in parallel: every commit copies the path to the root and publishes
// through the one root, so two such writers would conflict at the root. What
// a range-split writer would need on the reader side is here already: readers
// validate per node, not per version, and tolerate nodes being refilled under
// them. The step still to take is writing leaves in place (a node made odd,
// changed, made even, ancestors first when their summaries change), which is
// also what would stop a write from copying a whole leaf; see docs/perf.md.
//
// Layout. Leaves hold up to 30 items in an array inside the node and internal
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
// Measured with go test -bench . -benchmem on a 2-vCPU AMD EPYC virtual machine
// shared with other jobs (load average 6 to 12 while measuring, so times varied
// by up to 2x between runs; ranges are given). The value type has the shape of
// the project's (a pointer and a word, so an Item is 32 bytes).
//
// Memory per item at 1,000,000 items (heap growth after GC, BenchmarkMemory and
// TestMemoryPerItem): 35.7 bytes when built in one Replace, 35.7 bytes when
// built with one Txn per item in top-down order as mmap would, 42.7 bytes when
// inserted in random order. A leaf is 1,024 bytes for 30 items, internal nodes
// add about 1.5 bytes per item; the worst case, every leaf at its minimum of 15
// items and every internal node at 8 children, would be about 75 bytes per item.
//
// Time per operation:
//
//	Find, 1,000 items                                    55 ns         0 allocs
//	Find, 1,000,000 items (cache-miss bound)             560-1,300 ns  0 allocs
//	HighestGap, 1,000 items                              24-60 ns      0 allocs
//	HighestGap, 1,000,000 items                          54-118 ns     0 allocs
//	Replace insert + Commit, Replace delete + Commit:
//	  1,000 items                                        4.2-5.0 µs    4,928 B   8 allocs
//	  1,000,000 items                                    13.6-16.8 µs  8,950 B  13 allocs
//
// A write is dominated by the copies copy-on-write cannot avoid: cloning the
// same nodes alone (BenchmarkCopyFloor) took 2.7-3.3 µs and 9.3-14.3 µs for
// the two paths. On this machine a bare allocation of one 1 KiB leaf took
// 400-700 ns of CPU, several times what it takes on a quiet machine, so the
// absolute figures are inflated; the ratios are the useful part. From 1,000 to
// 1,000,000 items the bytes copied per write grow 1.8x (two or three more levels); the
// time grows about 3x because at that size the collector marks the 36 MB tree
// once per 36 MB allocated, and profiles show marking as the largest single
// cost, which any copy-on-write structure in Go pays per byte it copies.
package tree
