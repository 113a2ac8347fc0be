package tree

import "fmt"

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
func (s Snapshot[V]) Validate() error {
	r := s.r
	if r == nil {
		return nil
	}
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
		if r.leaf.n == 0 {
			return fmt.Errorf("tree: empty root leaf (an empty tree must have none)")
		}
		count, _, err = checkLeaf(r.leaf, nil, true)
	default:
		if r.leaf != nil || r.top == nil {
			return fmt.Errorf("tree: height %d needs an internal root and no root leaf", r.height)
		}
		count, _, err = checkInner(r.top, r.height, make([]int, 0, r.height+1), true)
	}
	if err != nil {
		return err
	}
	if count != r.count {
		return fmt.Errorf("tree: holds %d items but the root counts %d", count, r.count)
	}
	return nil
}

func checkLeaf[V any](l *leaf[V], path pathT, isRoot bool) (count int, s sum, err error) {
	switch {
	case l.n < 0 || l.n > leafMax:
		return 0, sum{}, fmt.Errorf("tree: leaf %s holds %d items, above the maximum %d", path, l.n, leafMax)
	case !isRoot && l.n < leafMin:
		return 0, sum{}, fmt.Errorf("tree: leaf %s holds %d items, below the minimum %d", path, l.n, leafMin)
	}
	for j := 0; j < l.n; j++ {
		it := l.items[j]
		if it.Start >= it.End {
			return 0, sum{}, fmt.Errorf("tree: leaf %s item %d [%#x, %#x) is empty or inverted", path, j, it.Start, it.End)
		}
		if j > 0 && l.items[j-1].End > it.Start {
			return 0, sum{}, fmt.Errorf("tree: leaf %s item %d [%#x, %#x) overlaps or precedes item %d ending at %#x",
				path, j, it.Start, it.End, j-1, l.items[j-1].End)
		}
	}
	for j := l.n; j < len(l.items); j++ {
		if l.items[j].Start != 0 || l.items[j].End != 0 {
			return 0, sum{}, fmt.Errorf("tree: leaf %s unused slot %d is not cleared", path, j)
		}
	}
	return l.n, l.summary(), nil
}

func checkInner[V any](n *inner[V], h int, path pathT, isRoot bool) (count int, s sum, err error) {
	lo := innerMin
	if isRoot {
		lo = 2
	}
	if n.n < lo || n.n > innerMax {
		return 0, sum{}, fmt.Errorf("tree: node %s at height %d has %d children, outside [%d, %d]", path, h, n.n, lo, innerMax)
	}
	for i := 0; i < n.n; i++ {
		p := append(path, i)
		var c int
		var cs sum
		if h == 1 {
			if n.leaves[i] == nil || n.kids[i] != nil {
				return 0, sum{}, fmt.Errorf("tree: node %s at height 1 must have a leaf child %d and no internal one", path, i)
			}
			c, cs, err = checkLeaf(n.leaves[i], p, false)
		} else {
			if n.kids[i] == nil || n.leaves[i] != nil {
				return 0, sum{}, fmt.Errorf("tree: node %s at height %d must have an internal child %d and no leaf", path, h, i)
			}
			c, cs, err = checkInner(n.kids[i], h-1, p, false)
		}
		if err != nil {
			return 0, sum{}, err
		}
		if stored := (sum{n.start[i], n.end[i], n.gap[i]}); cs != stored {
			return 0, sum{}, fmt.Errorf("tree: node %s stores summary start=%#x end=%#x gap=%#x for child %d, which has start=%#x end=%#x gap=%#x",
				path, stored.start, stored.end, stored.gap, i, cs.start, cs.end, cs.gap)
		}
		if i > 0 && n.end[i-1] > n.start[i] {
			return 0, sum{}, fmt.Errorf("tree: node %s child %d starts at %#x, before child %d ends at %#x", path, i, n.start[i], i-1, n.end[i-1])
		}
		count += c
	}
	for i := n.n; i < len(n.kids); i++ {
		if n.kids[i] != nil || n.leaves[i] != nil || n.start[i] != 0 || n.end[i] != 0 || n.gap[i] != 0 {
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
