package tree

import "sync/atomic"

// Item is one range [Start, End) with a value. Items in a tree never overlap.
type Item[V any] struct {
	Start, End uint64
	Val        V
}

// Tree is a set of non-overlapping items. Readers take a Snapshot without any
// lock; writers change the tree through a Txn, and the caller guarantees that
// only one Txn is open at a time (the space's write lock). The zero Tree is an
// empty tree ready to use.
type Tree[V any] struct {
	root atomic.Pointer[root[V]]
	// gen is the generation of the last Txn started. Only writers touch it, and
	// writers are serialized by the caller, so it needs no atomics.
	gen uint64
}

// root is the published description of one version of the tree. It is
// immutable once stored in Tree.root; the Txn works on a private copy.
type root[V any] struct {
	leaf   *leaf[V]  // the whole tree when height == 0; nil when empty
	top    *inner[V] // the top node when height > 0
	height int       // number of internal levels above the leaves
	count  int
}

// Snapshot returns the current committed version. It is one atomic load and
// never blocks; the result stays valid (and unchanging) for as long as it is
// held, however many commits follow.
func (t *Tree[V]) Snapshot() Snapshot[V] {
	return Snapshot[V]{t.root.Load()}
}

// Snapshot is an immutable view of the tree, safe to use from any goroutine for
// ever. The zero Snapshot is an empty tree. A Snapshot obtained from
// Txn.Snapshot is the exception: it shows the transaction's work in progress
// and is only for the writer's own use while the transaction is open.
type Snapshot[V any] struct {
	r *root[V]
}

// Len returns the number of items.
func (s Snapshot[V]) Len() int {
	if s.r == nil {
		return 0
	}
	return s.r.count
}

// Find returns the item with Start <= addr < End.
func (s Snapshot[V]) Find(addr uint64) (Item[V], bool) {
	r := s.r
	if r == nil {
		return Item[V]{}, false
	}
	l := r.leaf
	if h := r.height; h > 0 {
		n := r.top
		for {
			i := upper(n.start[:n.n], addr) - 1
			// The end check lets a miss stop high up instead of walking to a leaf;
			// on a hit it costs little, as the branch predicts the descent.
			if i < 0 || addr >= n.end[i] {
				return Item[V]{}, false
			}
			if h == 1 {
				l = n.leaves[i]
				break
			}
			n = n.kids[i]
			h--
		}
	}
	if l == nil {
		return Item[V]{}, false
	}
	j := l.startUpper(addr) - 1
	if j < 0 || addr >= l.items[j].End {
		return Item[V]{}, false
	}
	return l.items[j], true
}

// First returns the first item with End > from.
func (s Snapshot[V]) First(from uint64) (Item[V], bool) {
	r := s.r
	if r == nil {
		return Item[V]{}, false
	}
	l := r.leaf
	if h := r.height; h > 0 {
		n := r.top
		for {
			i := upper(n.end[:n.n], from)
			if i == n.n {
				return Item[V]{}, false
			}
			if h == 1 {
				l = n.leaves[i]
				break
			}
			n = n.kids[i]
			h--
		}
	}
	if l == nil {
		return Item[V]{}, false
	}
	if j := l.endUpper(from); j < l.n {
		return l.items[j], true
	}
	return Item[V]{}, false
}

// Last returns the last item with Start < before.
func (s Snapshot[V]) Last(before uint64) (Item[V], bool) {
	r := s.r
	if r == nil {
		return Item[V]{}, false
	}
	l := r.leaf
	if h := r.height; h > 0 {
		n := r.top
		for {
			i := lower(n.start[:n.n], before) - 1
			if i < 0 {
				return Item[V]{}, false
			}
			if h == 1 {
				l = n.leaves[i]
				break
			}
			n = n.kids[i]
			h--
		}
	}
	if l == nil {
		return Item[V]{}, false
	}
	if j := l.startLower(before) - 1; j >= 0 {
		return l.items[j], true
	}
	return Item[V]{}, false
}

// Ascend calls fn for the items with End > from, in increasing order, until fn
// returns false.
func (s Snapshot[V]) Ascend(from uint64, fn func(Item[V]) bool) {
	r := s.r
	switch {
	case r == nil:
	case r.height == 0:
		if r.leaf != nil {
			ascendLeaf(r.leaf, from, fn)
		}
	default:
		ascendInner(r.top, r.height, from, fn)
	}
}

func ascendInner[V any](n *inner[V], h int, from uint64, fn func(Item[V]) bool) bool {
	for i := upper(n.end[:n.n], from); i < n.n; i++ {
		var more bool
		if h == 1 {
			more = ascendLeaf(n.leaves[i], from, fn)
		} else {
			more = ascendInner(n.kids[i], h-1, from, fn)
		}
		if !more {
			return false
		}
	}
	return true
}

func ascendLeaf[V any](l *leaf[V], from uint64, fn func(Item[V]) bool) bool {
	for j := l.endUpper(from); j < l.n; j++ {
		if !fn(l.items[j]) {
			return false
		}
	}
	return true
}

// Descend calls fn for the items with Start < before, in decreasing order,
// until fn returns false.
func (s Snapshot[V]) Descend(before uint64, fn func(Item[V]) bool) {
	r := s.r
	switch {
	case r == nil:
	case r.height == 0:
		if r.leaf != nil {
			descendLeaf(r.leaf, before, fn)
		}
	default:
		descendInner(r.top, r.height, before, fn)
	}
}

func descendInner[V any](n *inner[V], h int, before uint64, fn func(Item[V]) bool) bool {
	for i := lower(n.start[:n.n], before) - 1; i >= 0; i-- {
		var more bool
		if h == 1 {
			more = descendLeaf(n.leaves[i], before, fn)
		} else {
			more = descendInner(n.kids[i], h-1, before, fn)
		}
		if !more {
			return false
		}
	}
	return true
}

func descendLeaf[V any](l *leaf[V], before uint64, fn func(Item[V]) bool) bool {
	for j := l.startLower(before) - 1; j >= 0; j-- {
		if !fn(l.items[j]) {
			return false
		}
	}
	return true
}
