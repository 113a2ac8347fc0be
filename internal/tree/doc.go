// Package tree holds an address space's areas: a set of non-overlapping
// [Start, End) ranges that page-fault readers search without any lock while a
// single writer (the holder of the space's write lock) changes it.
//
// # Design
//
// It is a copy-on-write B+tree published through an atomic pointer. Readers
// load the pointer once (Tree.Snapshot) and from then on see one immutable
// version, however long they keep it. A writer never changes a node that a
// published version can reach: within a Txn it copies each node on the path to
// its change, changes the copies, and Commit publishes the new root with one
// atomic store. This is the kernel's RCU scheme (the maple tree publishes new
// nodes with rcu_assign_pointer), minus its hardest part: the kernel must wait
// for a grace period before freeing the replaced nodes, because a reader may
// still be inside them. In Go a reader that still holds a node keeps it alive,
// and the garbage collector frees it once no reader does: the collector is the
// grace period, and there is nothing to free by hand.
//
// Generation tagging. Each Txn gets a fresh generation number and stamps it on
// every node it creates. A node carrying the Txn's own generation was made by
// this Txn and is not yet reachable from any published root, so the Txn changes
// it in place; any other node is copied first. A Txn that makes many changes
// thus copies each node once, not once per change, and a node is only ever
// written by the Txn that made it, before it is published, which is what makes
// readers race-free. Abort just drops the copies.
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
