package tree

import (
	"fmt"
	"reflect"
)

// Validate checks every structural invariant of the snapshot and returns an
// error naming the first violation and where it is (a path of child indexes
// from the root). It walks the whole tree: it is for tests and invariant
// checkers, not for production paths.
//
// Checked: items non-empty, sorted and non-overlapping; node fill bounds (the
// root is exempt from the minimum, but an internal root has two children and an
// empty tree has no root leaf); every leaf at the same depth (children are
// leaves exactly at height 1); the summaries stored for every child (first
// Start, last End, largest inner gap) match the child; the item count; and
// unused slots are zero, so removed items hold no memory.
func (s Snapshot[V, C, P]) Validate() error {
	r := s.root()
	var (
		count int
		err   error
	)
	switch {
	case r.height < 0:
		return fmt.Errorf("tree: negative height %d", r.height)
	case r.height == 0:
		if r.top != nil {
			return fmt.Errorf("tree: height 0 but an internal root is set")
		}
		if r.leaf == nil {
			if r.count != 0 {
				return fmt.Errorf("tree: empty tree claims %d items", r.count)
			}
			return nil
		}
		if r.leaf.count() == 0 {
			return fmt.Errorf("tree: empty root leaf (an empty tree must have none)")
		}
		count, _, err = checkLeaf(r.leaf, nil, true, s.txnGen())
	default:
		if r.leaf != nil || r.top == nil {
			return fmt.Errorf("tree: height %d needs an internal root and no root leaf", r.height)
		}
		count, _, err = checkInner(r.top, r.height, make([]int, 0, r.height+1), true, s.txnGen())
	}
	if err != nil {
		return err
	}
	if count != r.count {
		return fmt.Errorf("tree: holds %d items but the root counts %d", count, r.count)
	}
	return nil
}

func checkLeaf[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], path pathT, isRoot bool, gen uint64) (count int, s sum, err error) {
	n := l.count()
	if s := l.seq.Load(); gen != noParity && s&1 != 0 != (l.gen == gen) {
		return 0, sum{}, fmt.Errorf("tree: leaf %s has seq %d: a published node must be even, a Txn's own node odd", path, s)
	}
	switch {
	case n < 0 || n > leafMax:
		return 0, sum{}, fmt.Errorf("tree: leaf %s holds %d items, above the maximum %d", path, n, leafMax)
	case !isRoot && n < leafMin:
		return 0, sum{}, fmt.Errorf("tree: leaf %s holds %d items, below the minimum %d", path, n, leafMin)
	}
	for j := 0; j < n; j++ {
		st, e := l.startAt(j), l.endAt(j)
		if st >= e {
			return 0, sum{}, fmt.Errorf("tree: leaf %s item %d [%#x, %#x) is empty or inverted", path, j, st, e)
		}
		if j > 0 && l.endAt(j-1) > st {
			return 0, sum{}, fmt.Errorf("tree: leaf %s item %d [%#x, %#x) overlaps or precedes item %d ending at %#x",
				path, j, st, e, j-1, l.endAt(j-1))
		}
	}
	for j := n; j < len(l.items); j++ {
		// A value left behind would keep what it points to alive.
		if l.startAt(j) != 0 || l.endAt(j) != 0 || !reflect.ValueOf(P(&l.items[j].val).Load()).IsZero() {
			return 0, sum{}, fmt.Errorf("tree: leaf %s unused slot %d is not cleared", path, j)
		}
	}
	return n, l.summary(), nil
}

func checkInner[V any, C comparable, P Cell[C, V]](n *inner[V, C, P], h int, path pathT, isRoot bool, gen uint64) (count int, s sum, err error) {
	lo := innerMin
	if isRoot {
		lo = 2
	}
	nc := n.count()
	if s := n.seq.Load(); gen != noParity && s&1 != 0 != (n.gen == gen) {
		return 0, sum{}, fmt.Errorf("tree: node %s has seq %d: a published node must be even, a Txn's own node odd", path, s)
	}
	if nc < lo || nc > innerMax {
		return 0, sum{}, fmt.Errorf("tree: node %s at height %d has %d children, outside [%d, %d]", path, h, nc, lo, innerMax)
	}
	for i := 0; i < nc; i++ {
		p := append(path, i)
		var c int
		var cs sum
		if h == 1 {
			if n.leaves[i].Load() == nil || n.kids[i].Load() != nil {
				return 0, sum{}, fmt.Errorf("tree: node %s at height 1 must have a leaf child %d and no internal one", path, i)
			}
			c, cs, err = checkLeaf(n.leaves[i].Load(), p, false, gen)
		} else {
			if n.kids[i].Load() == nil || n.leaves[i].Load() != nil {
				return 0, sum{}, fmt.Errorf("tree: node %s at height %d must have an internal child %d and no leaf", path, h, i)
			}
			c, cs, err = checkInner(n.kids[i].Load(), h-1, p, false, gen)
		}
		if err != nil {
			return 0, sum{}, err
		}
		if stored := n.sumAt(i); cs != stored {
			return 0, sum{}, fmt.Errorf("tree: node %s stores summary start=%#x end=%#x gap=%#x for child %d, which has start=%#x end=%#x gap=%#x",
				path, stored.start, stored.end, stored.gap, i, cs.start, cs.end, cs.gap)
		}
		if i > 0 && n.end[i-1].Load() > n.start[i].Load() {
			return 0, sum{}, fmt.Errorf("tree: node %s child %d starts at %#x, before child %d ends at %#x", path, i, n.start[i].Load(), i-1, n.end[i-1].Load())
		}
		count += c
	}
	for i := nc; i < len(n.kids); i++ {
		if n.kids[i].Load() != nil || n.leaves[i].Load() != nil || n.start[i].Load() != 0 || n.end[i].Load() != 0 || n.gap[i].Load() != 0 {
			return 0, sum{}, fmt.Errorf("tree: node %s unused slot %d is not cleared", path, i)
		}
	}
	return count, n.summary(), nil
}

// pathT names a node by the child indexes leading to it from the root. It is
// formatted only when an error is reported, so that a clean walk does not pay
// for building names.
type pathT []int

func (p pathT) String() string {
	s := "root"
	for _, i := range p {
		s += fmt.Sprintf("/%d", i)
	}
	return s
}

// txnGen is the generation whose nodes are private (odd) in this view: the
// Txn's for a Txn's view, none (0, never a Txn's) for a published one.
// noParity (all ones) skips the check: the nodes of an older pinned version
// may have been retired (odd) since, and stay intact while pinned.
func (s *Snapshot[V, C, P]) txnGen() uint64 {
	switch {
	case s.x != nil:
		return s.x.gen
	case s.t != nil && s.t.loadRoot() != s.r:
		return noParity
	}
	return 0
}

const noParity = ^uint64(0)
