package tree

// In-place leaf writes: the common layout change (one Replace that stays
// inside one leaf with room) changes the published leaf itself instead of
// copying the path from the root, the way the maple tree stores into a
// slot of a live node in RCU mode when a reader can only see the old or the
// new entry. Copying the path cost a whole leaf (1,472 bytes with
// internal/mm's cells) and one internal node (712 bytes) per level for
// every commit; docs/perf.md has the numbers.
//
// The rules, and why each holds:
//
//   - Deferred to Commit. Replace only plans the write and keeps its
//     arguments (Txn.pend); nothing reachable changes before Commit. So an
//     Abort has nothing to undo, and a failed Txn cannot leave a published
//     leaf half changed. Anything else the Txn does before Commit (another
//     write, Set, a read through Txn.Snapshot, SetAllocFail) first applies
//     the pending write the ordinary copy-on-write way (flush), so the Txn's
//     own view always includes it. A Txn with a failpoint never defers, so
//     that the failpoint sees every allocation the write would make.
//   - Only when the result needs no repair: the leaf stays within its fill
//     bounds and every new item fits, so the tree's shape after the write is
//     exactly the one the copy-on-write path would have built.
//   - Lockless readers (lockless.go) see the old version or the new one
//     whole. Every node whose contents change (the leaf, and each ancestor
//     whose summary of the child below changes, which is a run of the path
//     upwards from the leaf) is made odd, top-down, before the first word
//     changes, and even again, bottom-up, after its own words and all of its
//     changed descendants' are written. A reader that used a node's old
//     contents re-checks that node's seq after reading its child's (or, at
//     the leaf, after copying the item), and that seq has moved by then or
//     the reader read the child before it went odd, when nothing below had
//     changed either; a reader that meets an odd node restarts. Ancestors
//     whose summaries do not change are not touched, so readers routed
//     through them are not disturbed: most hole maps and unmaps change only
//     the leaf.
//   - Pinned Snapshots never see a change. A Snapshot promises that what it
//     pinned stays as it was, so a writer must not write into any node a
//     pinned Snapshot can reach. Commit raises Tree.inPlace and then reads
//     pins; Snapshot adds its pin and then reads inPlace (a Dekker handshake:
//     Go's atomics are sequentially consistent, so at least one of the two
//     sees the other). A writer that sees a pin falls back to copy-on-write
//     (writers never wait for a listing); a Snapshot that sees the flag drops
//     its pin and retries once the short, wait-free in-place section is over
//     ("O(1) to take or retried"). A Snapshot that pinned after the section
//     sees the new version only.
//   - The published root changes only in its count, stored by the usual latch
//     publish after the nodes, inside the section, so a Snapshot's root and
//     nodes always agree.
//
// What this does not do: writes that split, merge or rebalance, or that touch
// two leaves, still copy the path (they are rare in steady state). A reader
// can now see a node change under it without the node being unlinked, which is
// what lockless.go's per-node validation already allowed for.

const maxHeight = 16 // far more levels than 2^64 items need at 8 per node

// pending is a planned in-place Replace (Txn.pend).
type pending[V any, C comparable, P Cell[C, V]] struct {
	on     bool
	lo, hi uint64
	items  []Item[V] // a copy of Replace's items (the buffer is reused)
}

// deferReplace plans Replace(lo, hi, items) as an in-place write when it is
// the Txn's first write and fits in one leaf; it reports whether it did.
func (x *Txn[V, C, P]) deferReplace(lo, hi uint64, items []Item[V]) bool {
	if x.dirty || x.fail != nil || x.t.noInPlace {
		return false
	}
	if _, _, _, _, ok := x.planInPlace(lo, hi, items); !ok {
		return false
	}
	x.pend.on, x.pend.lo, x.pend.hi = true, lo, hi
	x.pend.items = append(x.pend.items[:0], items...)
	x.dirty = true
	return true
}

// planInPlace walks the working root (the published one: the Txn wrote
// nothing yet) to the leaf that Replace's first splice would work in and
// checks that the whole Replace is done there with no repair. It returns
// the path: path[d] is the internal node at depth d and idx[d] the child
// taken there.
func (x *Txn[V, C, P]) planInPlace(lo, hi uint64, items []Item[V]) (path [maxHeight]*inner[V, C, P], idx [maxHeight]int, l *leaf[V, C, P], depth int, ok bool) {
	r := &x.r
	next := uint64(1<<64 - 1)
	if r.height == 0 {
		l = r.leaf
	} else {
		if r.height > maxHeight {
			return
		}
		n := r.top
		for h := r.height; ; h-- {
			c := n.count()
			i := upper(&n.end, c, lo)
			if i == c {
				i--
			}
			if i+1 < c {
				next = n.start[i+1].Load()
			}
			path[depth], idx[depth] = n, i
			depth++
			if h == 1 {
				l = n.leaves[i].Load()
				break
			}
			n = n.kids[i].Load()
		}
	}
	if l == nil {
		return
	}
	_, _, res, k := planSplice(l, lo, hi, items, next)
	if !res.complete || k != len(items) {
		return // the run goes on in the next leaf, or the items do not fit
	}
	m := l.count() - res.removed + k
	least := leafMin
	if r.height == 0 {
		least = 1
	}
	if m < least || m > leafMax {
		return
	}
	return path, idx, l, depth, true
}

// flush applies a pending in-place write the copy-on-write way, for a Txn
// that goes on writing or reading its own view. It cannot fail: deferral
// needs a Txn without a failpoint, and only the failpoint fails allocations.
func (x *Txn[V, C, P]) flush() {
	if !x.pend.on {
		return
	}
	x.pend.on = false
	if err := x.replace(x.pend.lo, x.pend.hi, x.pend.items); err != nil {
		panic("tree: flush of a pending write failed: " + err.Error())
	}
	clear(x.pend.items)
}

// commitInPlace does the pending write in the published nodes; false means
// a Snapshot is pinned and nothing was written (the caller flushes and
// commits by copying).
func (x *Txn[V, C, P]) commitInPlace() bool {
	t := x.t
	t.inPlace.Store(true)
	if t.pins.Load() != 0 {
		t.inPlace.Store(false)
		return false
	}
	p := &x.pend
	path, idx, l, depth, ok := x.planInPlace(p.lo, p.hi, p.items)
	if !ok {
		panic("tree: a pending in-place write no longer fits")
	}
	// Which summaries change: the leaf's in its parent, then upwards while a
	// node's own summary changes. changed is how many of the deepest path
	// nodes are written.
	var sums [maxHeight]sum
	s := l.summaryAfter(p.lo, p.hi, p.items)
	changed := 0
	for d := depth - 1; d >= 0; d-- {
		if path[d].sumAt(idx[d]) == s {
			break
		}
		sums[d] = s
		s = path[d].summaryWith(idx[d], s)
		changed++
	}
	top := depth - changed
	for d := top; d < depth; d++ {
		path[d].seq.Add(1) // odd, top-down, before any word changes
	}
	l.seq.Add(1)
	next := uint64(1<<64 - 1)
	if depth > 0 && idx[depth-1]+1 < path[depth-1].count() {
		next = path[depth-1].start[idx[depth-1]+1].Load()
	}
	res := spliceLeafHooked(t, l, p.lo, p.hi, p.items, next)
	x.countSlots(res.stored)
	l.seq.Add(1)
	for d := depth - 1; d >= top; d-- {
		path[d].setSum(idx[d], sums[d])
		x.countEntries(1)
		path[d].seq.Add(1) // even, bottom-up, after its descendants
	}
	x.r.count += res.inserted - res.removed
	t.publish(&x.r)
	t.inPlace.Store(false)
	p.on = false
	clear(p.items)
	return true
}

// spliceLeafHooked is spliceLeaf on a published leaf made odd, with the
// test hook half way (after the shift, before the new items).
func spliceLeafHooked[V any, C comparable, P Cell[C, V]](t *Tree[V, C, P], l *leaf[V, C, P], lo, hi uint64, items []Item[V], next uint64) splice {
	return spliceLeafAt(t, l, lo, hi, items, next)
}

// summaryAfter is l's summary as it will be after the splice of
// Replace(lo, hi, items) planned by planInPlace, computed without writing.
func (l *leaf[V, C, P]) summaryAfter(lo, hi uint64, items []Item[V]) sum {
	n := l.count()
	p := l.endUpper(n, lo)
	q := p
	for q < n && l.startAt(q) < hi {
		q++
	}
	var s sum
	first := true
	add := func(start, end uint64) {
		if first {
			s.start, first = start, false
		} else if g := start - s.end; g > s.gap {
			s.gap = g
		}
		s.end = end
	}
	for j := 0; j < p; j++ {
		add(l.startAt(j), l.endAt(j))
	}
	for _, it := range items {
		add(it.Start, it.End)
	}
	for j := q; j < n; j++ {
		add(l.startAt(j), l.endAt(j))
	}
	return s
}

// summaryWith is n's summary with child i's replaced by s.
func (n *inner[V, C, P]) summaryWith(i int, s sum) sum {
	c := n.count()
	at := func(j int) sum {
		if j == i {
			return s
		}
		return n.sumAt(j)
	}
	prev := at(0)
	out := sum{start: prev.start, gap: prev.gap}
	for j := 1; j < c; j++ {
		cur := at(j)
		out.gap = max(out.gap, cur.gap, cur.start-prev.end)
		prev = cur
	}
	out.end = prev.end
	return out
}
