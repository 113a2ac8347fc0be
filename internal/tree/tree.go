package tree

import (
	"runtime"
	"sync/atomic"
)

// Item is one range [Start, End) with a value. Items in a tree never overlap.
type Item[V any] struct {
	Start, End uint64
	Val        V
}

// Tree is a set of non-overlapping items. Readers use Find, First and Last
// without any lock, or take a Snapshot; writers change the tree through a Txn,
// and the caller guarantees that only one Txn is open at a time (the space's
// write lock). The zero Tree is an empty tree ready to use.
type Tree[V any, C comparable, P Cell[C, V]] struct {
	// The published root, as a latch (the kernel's seqcount_latch, as in
	// raw_write_seqcount_latch): two copies of the root and a sequence whose
	// low bit says which copy readers use. Commit rewrites the copy readers
	// are not using, flips the sequence, and rewrites the other one, so a
	// reader never finds a copy half written and never waits for a writer;
	// it only retries when the sequence moved while it read. Each field is
	// an atomic because readers load it with no lock.
	//
	// Negative result: with one copy under a plain seqcount (odd while
	// Commit stored the fields), readers under 1.3M commits/s found the
	// count odd on 20% of their tries: they spun on the very line the
	// writer was storing to, which made each store a cross-core miss and
	// the odd window longer, and backed off into runtime.Gosched, which on
	// a locked OS thread hands the P away (futex wakeups: 14% of the
	// profile). F kept 0.36 of its idle fault rate under unrelated churn.
	seq  atomic.Uint64
	copy [2]rootCopy[V, C, P]

	// pins counts the Snapshots not yet released; while it is not zero, nodes
	// that a commit unlinks wait in limbo instead of being reused (recycle.go).
	pins atomic.Int64

	// inPlace is true while a Commit writes published nodes in place; a
	// Snapshot that sees it after pinning retries (inplace.go).
	inPlace atomic.Bool

	// noInPlace makes every write copy (tests and benchmarks compare).
	noInPlace bool
	// inPlaceWrites counts commits done in place; writer only.
	inPlaceWrites uint64

	// Writer state: touched only by the holder of the caller's write exclusion.
	gen   uint64       // generation of the last Txn started
	txn   Txn[V, C, P] // the one Txn, reused so that starting one does not allocate
	rc    recycler[V, C, P]
	hooks *hooks // test failpoints; nil in production
}

// rootCopy is one copy of the published root in the latch.
type rootCopy[V any, C comparable, P Cell[C, V]] struct {
	leaf   atomic.Pointer[leaf[V, C, P]] // the whole tree when height == 0; nil when empty
	top    atomic.Pointer[inner[V, C, P]]
	height atomic.Int32
	count  atomic.Int64
}

// store writes r into c. Writer only, on the copy readers are not using.
func (c *rootCopy[V, C, P]) store(r *root[V, C, P]) {
	c.leaf.Store(r.leaf)
	c.top.Store(r.top)
	c.height.Store(int32(r.height))
	c.count.Store(int64(r.count))
}

// root is one version's description, as a reader or a Txn holds it.
type root[V any, C comparable, P Cell[C, V]] struct {
	leaf   *leaf[V, C, P]
	top    *inner[V, C, P]
	height int
	count  int
}

// loadRoot reads the published root consistently (a latch read section).
func (t *Tree[V, C, P]) loadRoot() root[V, C, P] {
	for spins := 0; ; spins++ {
		s := t.seq.Load()
		c := &t.copy[s&1]
		r := root[V, C, P]{c.leaf.Load(), c.top.Load(), int(c.height.Load()), int(c.count.Load())}
		if t.seq.Load() == s {
			return r
		}
		backoff(spins)
	}
}

// publish makes r the published root: the copy readers are not using is
// rewritten, the sequence flipped, then the other copy rewritten
// (raw_write_seqcount_latch). A reader that loaded the sequence before a
// flip reads a copy that is not written until the next flip, so it sees the
// old root whole; its re-check of the sequence tells it the root moved on.
// Writer only.
func (t *Tree[V, C, P]) publish(r *root[V, C, P]) {
	t.seq.Add(1) // odd: readers use copy 1, the old root
	t.copy[0].store(r)
	t.hook(hookPublish)
	t.seq.Add(1) // even: readers use copy 0, the new root
	t.copy[1].store(r)
	t.hook(hookPublishSecond)
}

// backoff lets a reader that keeps failing its re-check give the processor
// away. Readers wait for a writer only across an in-place Commit's section
// (inplace.go: the nodes it changes are odd, for the time it takes to store a
// few slots, and a Snapshot retries while it runs); otherwise the root is a
// latch and a node that changes under a reader is already unreachable from
// the published root, so failing means commits keep landing during its walk:
// a livelock guard, not a wait. It is rarely reached because runtime.Gosched on a
// locked OS thread is expensive: it hands the P to another thread (a futex
// wakeup) and waits to get one back, microseconds on the fault path.
func backoff(spins int) {
	if spins >= 64 {
		runtime.Gosched()
	}
}

// Len returns the number of items in the published tree.
func (t *Tree[V, C, P]) Len() int { return t.loadRoot().count }

// Snapshot pins the current committed version and returns it: until Release,
// no node it can reach is reused, so it stays valid and unchanging however
// many commits follow. Taking one is O(1): one atomic add and a seqcount read.
// A Snapshot that is never released stays valid too; it only makes writers
// leave the nodes they unlink to the garbage collector instead of reusing them.
func (t *Tree[V, C, P]) Snapshot() Snapshot[V, C, P] {
	// The add comes before the root is read, and Commit reads pins after it
	// publishes: of a commit and a Snapshot that race, either the commit sees
	// the pin (and holds back what it unlinks) or the Snapshot sees the new
	// root (and cannot reach what was unlinked). Go's atomics are sequentially
	// consistent, which this store-load pattern needs.
	//
	// The same store-load pattern keeps a Snapshot out of a Commit's in-place
	// section (inplace.go): the Commit raises inPlace and then reads pins, so
	// either it sees this pin and copies, or this sees the flag and retries
	// once the section, which never waits, is over.
	for spins := 0; ; spins++ {
		if s, ok := t.trySnapshot(); ok {
			return s
		}
		backoff(spins)
	}
}

// trySnapshot is one try of Snapshot.
func (t *Tree[V, C, P]) trySnapshot() (Snapshot[V, C, P], bool) {
	t.pins.Add(1)
	if t.inPlace.Load() {
		t.pins.Add(-1)
		return Snapshot[V, C, P]{}, false
	}
	return Snapshot[V, C, P]{r: t.loadRoot(), t: t}, true
}

// Snapshot is an immutable view of the tree. The zero Snapshot is an empty
// tree. A Snapshot from Txn.Snapshot is the exception: it shows the
// transaction's work in progress and is only for the writer's own use while the
// transaction is open.
type Snapshot[V any, C comparable, P Cell[C, V]] struct {
	r root[V, C, P]
	x *Txn[V, C, P]  // a Txn's live view when not nil
	t *Tree[V, C, P] // the tree pinned, until Release
}

// Release unpins a Snapshot from Tree.Snapshot; it must not be used after.
// Releasing a zero or Txn Snapshot does nothing.
func (s *Snapshot[V, C, P]) Release() {
	if s.t != nil {
		s.t.pins.Add(-1)
		s.t = nil
	}
}

func (s *Snapshot[V, C, P]) root() *root[V, C, P] {
	if s.x != nil {
		s.x.flush() // a deferred write is part of the Txn's view
		return &s.x.r
	}
	return &s.r
}

// Len returns the number of items.
func (s Snapshot[V, C, P]) Len() int { return s.root().count }

// Find returns the item with Start <= addr < End.
func (s Snapshot[V, C, P]) Find(addr uint64) (Item[V], bool) {
	r := s.root()
	l := r.leaf
	if h := r.height; h > 0 {
		n := r.top
		for {
			i := upper(&n.start, n.count(), addr) - 1
			// The end check lets a miss stop high up instead of walking to a leaf;
			// on a hit it costs little, as the branch predicts the descent.
			if i < 0 || addr >= n.end[i].Load() {
				return Item[V]{}, false
			}
			if h == 1 {
				l = n.leaves[i].Load()
				break
			}
			n = n.kids[i].Load()
			h--
		}
	}
	if l == nil {
		return Item[V]{}, false
	}
	j := l.startUpper(l.count(), addr) - 1
	if j < 0 || addr >= l.endAt(j) {
		return Item[V]{}, false
	}
	return l.item(j), true
}

// First returns the first item with End > from.
func (s Snapshot[V, C, P]) First(from uint64) (Item[V], bool) {
	r := s.root()
	l := r.leaf
	if h := r.height; h > 0 {
		n := r.top
		for {
			i := upper(&n.end, n.count(), from)
			if i == n.count() {
				return Item[V]{}, false
			}
			if h == 1 {
				l = n.leaves[i].Load()
				break
			}
			n = n.kids[i].Load()
			h--
		}
	}
	if l == nil {
		return Item[V]{}, false
	}
	if j := l.endUpper(l.count(), from); j < l.count() {
		return l.item(j), true
	}
	return Item[V]{}, false
}

// Last returns the last item with Start < before.
func (s Snapshot[V, C, P]) Last(before uint64) (Item[V], bool) {
	r := s.root()
	l := r.leaf
	if h := r.height; h > 0 {
		n := r.top
		for {
			i := lower(&n.start, n.count(), before) - 1
			if i < 0 {
				return Item[V]{}, false
			}
			if h == 1 {
				l = n.leaves[i].Load()
				break
			}
			n = n.kids[i].Load()
			h--
		}
	}
	if l == nil {
		return Item[V]{}, false
	}
	if j := l.startLower(l.count(), before) - 1; j >= 0 {
		return l.item(j), true
	}
	return Item[V]{}, false
}

// Ascend calls fn for the items with End > from, in increasing order, until fn
// returns false.
func (s Snapshot[V, C, P]) Ascend(from uint64, fn func(Item[V]) bool) {
	r := s.root()
	switch {
	case r.height == 0:
		if r.leaf != nil {
			ascendLeaf(r.leaf, from, fn)
		}
	default:
		ascendInner(r.top, r.height, from, fn)
	}
}

func ascendInner[V any, C comparable, P Cell[C, V]](n *inner[V, C, P], h int, from uint64, fn func(Item[V]) bool) bool {
	for i := upper(&n.end, n.count(), from); i < n.count(); i++ {
		var more bool
		if h == 1 {
			more = ascendLeaf(n.leaves[i].Load(), from, fn)
		} else {
			more = ascendInner(n.kids[i].Load(), h-1, from, fn)
		}
		if !more {
			return false
		}
	}
	return true
}

func ascendLeaf[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], from uint64, fn func(Item[V]) bool) bool {
	c := l.count()
	for j := l.endUpper(c, from); j < c; j++ {
		it := l.item(j)
		if !fn(it) {
			return false
		}
	}
	return true
}

// Descend calls fn for the items with Start < before, in decreasing order,
// until fn returns false.
func (s Snapshot[V, C, P]) Descend(before uint64, fn func(Item[V]) bool) {
	r := s.root()
	switch {
	case r.height == 0:
		if r.leaf != nil {
			descendLeaf(r.leaf, before, fn)
		}
	default:
		descendInner(r.top, r.height, before, fn)
	}
}

func descendInner[V any, C comparable, P Cell[C, V]](n *inner[V, C, P], h int, before uint64, fn func(Item[V]) bool) bool {
	for i := lower(&n.start, n.count(), before) - 1; i >= 0; i-- {
		var more bool
		if h == 1 {
			more = descendLeaf(n.leaves[i].Load(), before, fn)
		} else {
			more = descendInner(n.kids[i].Load(), h-1, before, fn)
		}
		if !more {
			return false
		}
	}
	return true
}

func descendLeaf[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], before uint64, fn func(Item[V]) bool) bool {
	for j := l.startLower(l.count(), before) - 1; j >= 0; j-- {
		it := l.item(j)
		if !fn(it) {
			return false
		}
	}
	return true
}
