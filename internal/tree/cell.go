package tree

// Values live in the leaves (the maple tree keeps its entries in its nodes
// too), each in a cell of the caller's type C, through P = *C.
//
// Why not a box per value, written once and then shared by every version
// (what the tree did until it was the last allocation of a write): a box
// can only be recycled once no reader can still dereference it, and
// lockless readers register nowhere, so no writer can ever know that. The
// garbage collector knew; it charged one allocation per item written, and
// under layout churn that was the process's only garbage (`vmspace bench`,
// per-area, `unrelated` churn: 9 and 5 GC cycles in the row's 3 s in two
// runs; none with cells, docs/perf.md). A cell inside a leaf is
// recycled with its leaf, under the rules the leaf already obeys: it is
// written only while the leaf is odd (private to the writer, on a free
// list, retired, or inside an in-place Commit's section, inplace.go), never
// while a pinned Snapshot can reach it. A lockless reader loads the cell between its two reads of
// the leaf's seq and keeps what it loaded only when they match, so it never
// uses a value that was being rewritten.
//
// A stale reader may still be loading a cell while the writer refills the
// leaf, and what it loads is thrown away; but Go's memory model (and its
// race detector) call any such unsynchronized pair a race whatever happens
// to the result. So every word of a cell must be an atomic, which no
// generic V can promise; hence the caller's type. Its cost: the words a
// reader copies out are plain loads on amd64; the writer's stores are
// locked (a leaf refill already pays that for every slot) and a slot grows
// from 24 bytes to 16 plus the cell.

// Cell is how a leaf slot stores a value of type V: P is *C, whose Load
// and Store move a V in and out of C's atomic words.
//
// Store is only called on a cell no reader may be using (its leaf is
// private to the writer); Load may run on a cell that is being stored to by
// then, and the tree discards what it returns in that case. Store should
// skip words that already hold the value: a locked store costs several
// times a load, and a leaf refilled from the free list is often the
// previous version of the same leaf. The zero C must Load as the zero V,
// and Store(zero V) must leave no pointer behind (a cleared slot must not
// keep memory alive).
type Cell[C comparable, V any] interface {
	*C
	Load() V
	Store(V)
}
