package tree

import (
	"fmt"
	"math"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// ErrNoMem is returned when a node allocation fails (only the fault-injection
// failpoint can make it fail). It wraps syscall.ENOMEM so that callers can pass
// it up as the errno a real kernel would return.
var ErrNoMem error = fmt.Errorf("tree: node allocation failed: %w", syscall.ENOMEM)

type txnState uint8

const (
	txnOpen txnState = iota
	txnFailed
	txnClosed
)

// Txn is a write transaction. Only one may be open per tree at a time; the
// caller guarantees that (it holds the space's write lock).
//
// Copy-on-write with generation tags: every Txn gets a fresh generation number,
// and a node whose gen equals the Txn's was created by this Txn and is not
// reachable from any published root, so the Txn may change it in place. Any
// other node may be in use by readers and is copied (once) before its first
// change. A burst of changes in one Txn therefore copies each touched node once,
// not once per change.
type Txn[V any, C comparable, P Cell[C, V]] struct {
	t     *Tree[V, C, P]
	base  uint64        // the root seqcount this Txn started from
	r     root[V, C, P] // the working root
	gen   uint64
	fail  func() bool
	state txnState
	dirty bool
	pend  pending[V, C, P] // a Replace deferred to Commit, to be done in place (inplace.go)
}

// Txn starts a write transaction on the current committed version. The Tree
// has one Txn, reused, so that a write allocates nothing for it: a Txn that
// wrote nothing may be left open and is dropped here, but starting one while
// another holds writes is the caller's bug and panics.
func (t *Tree[V, C, P]) Txn() *Txn[V, C, P] {
	x := &t.txn
	if x.t != nil && x.state != txnClosed {
		if x.dirty {
			panic("tree: Txn while another Txn is open")
		}
		x.Abort()
	}
	t.gen++
	buf := x.pend.items[:0] // kept: the next deferred write reuses it
	*x = Txn[V, C, P]{t: t, gen: t.gen, base: t.seq.Load(), r: t.loadRoot()}
	x.pend.items = buf
	t.rc.reclaim(t) // nodes in limbo may be free again
	return x
}

// SetAllocFail installs a failpoint called once before each node allocation in
// this Txn; when it returns true the allocation fails and the write returns
// ErrNoMem. A nil f removes the failpoint.
func (x *Txn[V, C, P]) SetAllocFail(f func() bool) {
	x.flush()
	x.fail = f
}

// Snapshot returns the Txn's current, uncommitted state for the writer's own
// lookups. Unlike a committed Snapshot it changes with later writes in this Txn,
// and it must not be handed to other goroutines.
func (x *Txn[V, C, P]) Snapshot() Snapshot[V, C, P] { return Snapshot[V, C, P]{x: x} }

// Commit publishes the Txn's state with one atomic store. Nodes created by the
// Txn become immutable from here on: later Txns have other generations and so
// copy them before any change.
func (x *Txn[V, C, P]) Commit() {
	switch x.state {
	case txnFailed:
		panic("tree: Commit of a Txn whose write failed; Abort it")
	case txnClosed:
		panic("tree: Commit of a finished Txn")
	}
	t := x.t
	if x.dirty {
		if t.seq.Load() != x.base {
			panic("tree: another Txn committed while this one was open")
		}
		if x.pend.on {
			if x.commitInPlace() {
				t.inPlaceWrites++
				x.close()
				return
			}
			x.flush() // a Snapshot is pinned: copy instead
		}
		// The Txn's nodes become stable (even) before the store that lets
		// readers reach them; then what the Txn unlinked is retired (odd)
		// before anything can reuse it (recycle.go).
		t.rc.seal()
		t.publish(&x.r)
		t.rc.retire(t)
	} else {
		t.rc.discard()
	}
	x.close()
}

// Abort discards the Txn. The published tree was never touched, so there is
// nothing to undo; the nodes the Txn made go back to the free lists.
func (x *Txn[V, C, P]) Abort() {
	if x.state != txnClosed {
		x.pend.on = false // it touched nothing (inplace.go)
		clear(x.pend.items)
		x.t.rc.discard()
		x.close()
	}
}

func (x *Txn[V, C, P]) close() {
	x.state = txnClosed
	x.fail = nil
}

func (x *Txn[V, C, P]) check() error {
	switch x.state {
	case txnFailed:
		return ErrNoMem
	case txnClosed:
		panic("tree: write to a finished Txn")
	}
	return nil
}

// setErr records a failed write: the working state may now be half changed,
// so the Txn refuses further writes and Commit.
func (x *Txn[V, C, P]) setErr(err error) error {
	if err != nil {
		x.state = txnFailed
	}
	return err
}

// alloc runs the failpoint ahead of a node allocation.
func (x *Txn[V, C, P]) alloc() error {
	if x.fail != nil && x.fail() {
		return ErrNoMem
	}
	return nil
}

// nodePtr ties a node type L to its pointer type N.
type nodePtr[L any, N any] interface {
	*L
	node[N]
}

// own returns the node in *slot, first replacing it by a private copy unless
// this Txn created it. slot must itself live in a node owned by x.
func own[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], slot *atomic.Pointer[L]) (N, error) {
	c := N(slot.Load())
	if c.owner() == x.gen {
		return c, nil
	}
	d, err := cloneNode[L, N](x, c)
	if err != nil {
		return nil, err
	}
	slot.Store((*L)(d))
	return d, nil
}

// cloneNode makes a private copy of the published node c and marks c for
// retirement at Commit.
func cloneNode[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], c N) (N, error) {
	switch c := any(c).(type) {
	case *leaf[V, C, P]:
		d, err := x.cloneLeaf(c)
		if err != nil {
			return nil, err
		}
		return any(d).(N), nil
	case *inner[V, C, P]:
		d, err := x.cloneInner(c)
		if err != nil {
			return nil, err
		}
		return any(d).(N), nil
	}
	panic("unreachable")
}

func (x *Txn[V, C, P]) cloneLeaf(c *leaf[V, C, P]) (*leaf[V, C, P], error) {
	d, err := x.newLeaf()
	if err != nil {
		return nil, err
	}
	// A reused node is refilled while stale readers may still be in it; it is
	// odd throughout, so they fail their re-check (the hook is where a test
	// stops the writer half way).
	old, m := d.count(), c.count()
	d.copyItems(0, c, 0, m/2)
	x.t.hook(hookRefill)
	d.copyItems(m/2, c, m/2, m-m/2)
	d.clearItems(m, old)
	d.setN(m)
	x.countSlots(m)
	x.t.rc.oldLeaves = append(x.t.rc.oldLeaves, c)
	return d, nil
}

func (x *Txn[V, C, P]) cloneInner(c *inner[V, C, P]) (*inner[V, C, P], error) {
	d, err := x.newInner()
	if err != nil {
		return nil, err
	}
	d.fill(c)
	x.countEntries(c.count())
	x.t.rc.oldInners = append(x.t.rc.oldInners, c)
	return d, nil
}

// ownLeaf and ownInner are own for the hot path, where a direct call beats the
// generic one's dictionary lookup.
func (x *Txn[V, C, P]) ownLeaf(slot *atomic.Pointer[leaf[V, C, P]]) (*leaf[V, C, P], error) {
	if l := slot.Load(); l.gen == x.gen {
		return l, nil
	}
	c, err := x.cloneLeaf(slot.Load())
	if err != nil {
		return nil, err
	}
	slot.Store(c)
	return c, nil
}

func (x *Txn[V, C, P]) ownInner(slot *atomic.Pointer[inner[V, C, P]]) (*inner[V, C, P], error) {
	if n := slot.Load(); n.gen == x.gen {
		return n, nil
	}
	c, err := x.cloneInner(slot.Load())
	if err != nil {
		return nil, err
	}
	slot.Store(c)
	return c, nil
}

// ownRootLeaf and ownRootInner own the working root's node (a plain field of
// the Txn's private root).
func (x *Txn[V, C, P]) ownRootLeaf() (*leaf[V, C, P], error) {
	if l := x.r.leaf; l.gen == x.gen {
		return l, nil
	}
	c, err := x.cloneLeaf(x.r.leaf)
	if err != nil {
		return nil, err
	}
	x.r.leaf = c
	return c, nil
}

func (x *Txn[V, C, P]) ownRootInner() (*inner[V, C, P], error) {
	if n := x.r.top; n.gen == x.gen {
		return n, nil
	}
	c, err := x.cloneInner(x.r.top)
	if err != nil {
		return nil, err
	}
	x.r.top = c
	return c, nil
}

// fresh returns an empty private node of either kind.
func fresh[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P]) (N, error) {
	var z N
	switch any(z).(type) {
	case *leaf[V, C, P]:
		l, err := x.newLeaf()
		if err != nil {
			return nil, err
		}
		l.clearItems(0, l.count())
		l.setN(0)
		return any(l).(N), nil
	case *inner[V, C, P]:
		n, err := x.newInner()
		if err != nil {
			return nil, err
		}
		n.clearEntries(0, n.count())
		n.n.Store(0)
		return any(n).(N), nil
	}
	panic("unreachable")
}

// drop takes a node out of the working tree: a published one is retired at
// Commit, a private one goes back to the free list then.
func drop[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], c N) {
	switch c := any(c).(type) {
	case *leaf[V, C, P]:
		x.dropLeaf(c)
	case *inner[V, C, P]:
		x.dropInner(c)
	}
}

func (x *Txn[V, C, P]) dropLeaf(c *leaf[V, C, P]) {
	if c.gen == x.gen {
		c.dead = true
	} else {
		x.t.rc.oldLeaves = append(x.t.rc.oldLeaves, c)
	}
}

func (x *Txn[V, C, P]) dropInner(c *inner[V, C, P]) {
	if c.gen == x.gen {
		c.dead = true
	} else {
		x.t.rc.oldInners = append(x.t.rc.oldInners, c)
	}
}

// Replace removes every item whose Start lies in [lo, hi) and inserts items.
//
// The caller guarantees that no item straddles lo or hi (it splits such items
// first with an earlier Replace), and that items are sorted, non-overlapping,
// non-empty and inside [lo, hi); a violation is a bug in the caller and panics.
//
// On ErrNoMem the Txn is left failed: it must be aborted, and the published tree
// is untouched.
func (x *Txn[V, C, P]) Replace(lo, hi uint64, items []Item[V]) error {
	if err := x.check(); err != nil {
		return err
	}
	checkItems(lo, hi, items)
	if lo == hi {
		return nil // nothing to remove, and checkItems saw that items is empty
	}
	if x.deferReplace(lo, hi, items) {
		return nil
	}
	x.flush()
	return x.replace(lo, hi, items)
}

// replace is Replace done by copying the path (checked arguments).
func (x *Txn[V, C, P]) replace(lo, hi uint64, items []Item[V]) error {
	x.dirty = true
	// Each splice works in one leaf: it removes the part of the doomed run that
	// lies there and, once the whole run is gone, inserts as many new items as the
	// leaf has slots for. Nearly every call is done in one splice; long runs and
	// bulk inserts loop, one leaf per round.
	deleting := true
	for deleting || len(items) > 0 {
		from := lo
		if !deleting {
			// Everything in [lo, hi) is gone and what was inserted so far ends at or
			// before items[0].Start, so routing by it finds the insertion point.
			from = items[0].Start
		}
		res, err := x.spliceRoot(from, hi, items)
		if err != nil {
			return x.setErr(err)
		}
		x.r.count += res.inserted - res.removed
		items = items[res.inserted:]
		if res.removed == 0 && res.inserted == 0 && (!res.complete || len(items) > 0) {
			// Unreachable in a valid tree (a leaf always has a free slot and the
			// routing always finds the run); a corrupt one must not hang the writer.
			panic("tree: Replace made no progress")
		}
		deleting = deleting && !res.complete
	}
	return nil
}

func checkItems[V any](lo, hi uint64, items []Item[V]) {
	if lo > hi {
		panic(fmt.Sprintf("tree: Replace range [%#x, %#x) is inverted", lo, hi))
	}
	prev := lo
	for i, it := range items {
		if it.Start < prev || it.Start >= it.End || it.End > hi {
			panic(fmt.Sprintf("tree: Replace [%#x, %#x): item %d [%#x, %#x) is empty, out of order, overlapping or outside the range",
				lo, hi, i, it.Start, it.End))
		}
		prev = it.End
	}
}

// splice is the outcome of one splice pass.
type splice struct {
	removed, inserted int
	// complete: no item starting in [lo, hi) is left beyond this leaf, so the
	// deletion is done and insertion may start.
	complete bool
	// stored: slots an in-place splice wrote (new items and the shifted
	// suffix), for the copy statistic.
	stored int
}

func (x *Txn[V, C, P]) spliceRoot(lo, hi uint64, items []Item[V]) (splice, error) {
	r := &x.r
	if r.height > 0 {
		n, err := x.ownRootInner()
		if err != nil {
			return splice{}, err
		}
		res, err := x.spliceInner(n, r.height, lo, hi, items, math.MaxUint64)
		if err != nil {
			return res, err
		}
		return res, x.fixRoot()
	}
	if r.leaf == nil {
		if len(items) == 0 {
			return splice{complete: true}, nil
		}
		l, err := fresh[leaf[V, C, P]](x)
		if err != nil {
			return splice{}, err
		}
		r.leaf = l
	}
	l, res, err := x.spliceCopy(r.leaf, lo, hi, items, math.MaxUint64)
	if err != nil {
		return splice{}, err
	}
	r.leaf = l
	return res, x.fixRoot()
}

// spliceInner descends into the child holding the first item that ends after
// lo: the doomed run starts there, and new items may go there too, even in
// front of its first item, because everything in the previous child ends at or
// before lo. next is the Start of the first item after this subtree.
func (x *Txn[V, C, P]) spliceInner(n *inner[V, C, P], h int, lo, hi uint64, items []Item[V], next uint64) (splice, error) {
	c := n.count()
	i := upper(&n.end, c, lo)
	if i == c {
		i-- // lo is past every item: append to the last child
	}
	if i+1 < c {
		next = n.start[i+1].Load()
	}
	var res splice
	if h == 1 {
		src := n.leaves[i].Load()
		l, r, err := x.spliceCopy(src, lo, hi, items, next)
		if err != nil {
			return res, err
		}
		if l != src {
			n.leaves[i].Store(l)
		}
		res = r
		n.setSum(i, l.summary())
	} else {
		k, err := x.ownInner(&n.kids[i])
		if err != nil {
			return res, err
		}
		if res, err = x.spliceInner(k, h-1, lo, hi, items, next); err != nil {
			return res, err
		}
		n.setSum(i, k.summary())
	}
	return res, x.fixChild(n, h, i)
}

// spliceCopy does one splice on leaf src: in place when the Txn owns it, else
// into a copy that it writes in one pass (prefix, new items, suffix), so that
// the items after the splice point are stored once, not copied and then
// shifted. It returns the leaf that now holds the result.
func (x *Txn[V, C, P]) spliceCopy(src *leaf[V, C, P], lo, hi uint64, items []Item[V], next uint64) (*leaf[V, C, P], splice, error) {
	if src.gen == x.gen {
		res := spliceLeaf(src, lo, hi, items, next)
		x.countSlots(res.stored)
		return src, res, nil
	}
	p, q, res, k := planSplice(src, lo, hi, items, next)
	d, err := x.newLeaf()
	if err != nil {
		return nil, splice{}, err
	}
	n, old := src.count(), d.count()
	d.copyItems(0, src, 0, p)
	putItems(d, p, items[:k])
	d.copyItems(p+k, src, q, n-q)
	m := n - res.removed + k
	d.clearItems(m, old)
	d.setN(m)
	x.countSlots(m)
	x.t.rc.oldLeaves = append(x.t.rc.oldLeaves, src)
	return d, res, nil
}

// planSplice works out a splice of leaf l: items [p, q) go, and the first k
// of items come in at p.
func planSplice[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], lo, hi uint64, items []Item[V], next uint64) (p, q int, res splice, k int) {
	n := l.count()
	p = l.endUpper(n, lo)
	if p < n && l.startAt(p) < lo {
		panic(fmt.Sprintf("tree: Replace [%#x, %#x): item [%#x, %#x) straddles %#x", lo, hi, l.startAt(p), l.endAt(p), lo))
	}
	q = p
	for q < n && l.startAt(q) < hi {
		if l.endAt(q) > hi {
			panic(fmt.Sprintf("tree: Replace [%#x, %#x): item [%#x, %#x) straddles %#x", lo, hi, l.startAt(q), l.endAt(q), hi))
		}
		q++
	}
	res = splice{removed: q - p, complete: q < n || next >= hi}
	if res.complete {
		k = min(len(items), len(l.items)-(n-res.removed))
	}
	res.inserted = k
	return p, q, res, k
}

// putItems stores new items at l[p:], values in their cells: a write
// allocates nothing (cell.go).
func putItems[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], p int, items []Item[V]) {
	for j := range items {
		s := &l.items[p+j]
		storeIfNew(&s.start, items[j].Start)
		storeIfNew(&s.end, items[j].End)
		P(&s.val).Store(items[j].Val)
	}
}

// spliceLeaf does one splice in leaf l (owned by the Txn). It may leave l
// overfull by one slot or underfull; the parent repairs that.
func spliceLeaf[V any, C comparable, P Cell[C, V]](l *leaf[V, C, P], lo, hi uint64, items []Item[V], next uint64) splice {
	return spliceLeafAt[V, C, P](nil, l, lo, hi, items, next)
}

// spliceLeafAt is spliceLeaf; with t not nil it runs t's in-place test
// hook half way (after the shift, before the new items).
func spliceLeafAt[V any, C comparable, P Cell[C, V]](t *Tree[V, C, P], l *leaf[V, C, P], lo, hi uint64, items []Item[V], next uint64) splice {
	p, q, res, k := planSplice(l, lo, hi, items, next)
	n := l.count()
	m := n - res.removed + k
	l.copyItems(p+k, l, q, n-q)
	if t != nil {
		t.hook(hookInPlace)
	}
	putItems(l, p, items[:k])
	if m < n {
		l.clearItems(m, n)
	}
	l.setN(m)
	res.stored = k + n - q
	return res
}

// fixChild restores the fill bounds of child i of n (owned) after a write below
// it. At most one child of n is added or removed, so n itself may end up one
// over or under its own bounds, for n's parent to repair in turn.
func (x *Txn[V, C, P]) fixChild(n *inner[V, C, P], h, i int) error {
	if h == 1 {
		if c := n.leaves[i].Load().count(); c < leafMin || c > leafMax {
			return fixPair(x, n, &n.leaves, i, leafMin, leafMax)
		}
		return nil
	}
	if c := n.kids[i].Load().count(); c < innerMin || c > innerMax {
		return fixPair(x, n, &n.kids, i, innerMin, innerMax)
	}
	return nil
}

// fixPair repairs child i of n, whose count is outside [lo, hi].
//
// An overfull child first spills into a neighbour with room and only splits when
// both neighbours are full. That is what keeps leaves nearly full when areas are
// added in address order (mmap's top-down placement adds them in decreasing
// order): a plain half split would leave every leaf half empty for good, and the
// memory target could not be met.
func fixPair[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], n *inner[V, C, P], kids *[innerMax + 1]atomic.Pointer[L], i, lo, hi int) error {
	cnt := func(j int) int { return N(kids[j].Load()).count() }
	c := cnt(i)
	if c > hi {
		if i > 0 && cnt(i-1) < hi {
			return even[L, N](x, n, kids, i-1)
		}
		if i+1 < n.count() && cnt(i+1) < hi {
			return even[L, N](x, n, kids, i)
		}
		return split[L, N](x, n, kids, i)
	}
	if n.count() < 2 {
		return nil // only a root can have one child; fixRoot collapses it
	}
	j := max(i-1, 0) // repair the pair (j, j+1)
	if cnt(j)+cnt(j+1) <= hi {
		return merge[L, N](x, n, kids, j)
	}
	return even[L, N](x, n, kids, j)
}

// even shares the entries of children j and j+1 equally between them.
func even[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], n *inner[V, C, P], kids *[innerMax + 1]atomic.Pointer[L], j int) error {
	a, err := own[L, N](x, &kids[j])
	if err != nil {
		return err
	}
	b, err := own[L, N](x, &kids[j+1])
	if err != nil {
		return err
	}
	if ca, cb := a.count(), b.count(); ca > cb {
		a.moveTail(b, (ca-cb)/2)
		countMoved[L, N](x, cb+(ca-cb)/2) // b's items shift up too
	} else {
		a.moveHead(b, (cb-ca)/2)
		countMoved[L, N](x, cb-(cb-ca)/2) // b's items shift down too
	}
	n.setSum(j, a.summary())
	n.setSum(j+1, b.summary())
	return nil
}

// merge folds child j+1 into child j. Child j+1 is only read, so it is not
// copied even when it is a published node; it leaves the tree.
func merge[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], n *inner[V, C, P], kids *[innerMax + 1]atomic.Pointer[L], j int) error {
	a, err := own[L, N](x, &kids[j])
	if err != nil {
		return err
	}
	b := N(kids[j+1].Load())
	a.appendAll(b)
	countMoved[L, N](x, b.count())
	drop[L, N](x, b)
	x.countEntries(n.count() - j - 2)
	n.removeEntry(j + 1)
	n.setSum(j, a.summary())
	return nil
}

// split moves the upper half of child i into a new child i+1.
func split[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], n *inner[V, C, P], kids *[innerMax + 1]atomic.Pointer[L], i int) error {
	a, err := own[L, N](x, &kids[i])
	if err != nil {
		return err
	}
	b, err := fresh[L, N](x)
	if err != nil {
		return err
	}
	countMoved[L, N](x, a.count()-a.count()/2)
	a.moveTail(b, a.count()-a.count()/2)
	x.countEntries(n.count() - i - 1)
	n.insertEntry(i + 1)
	kids[i+1].Store((*L)(b))
	n.setSum(i, a.summary())
	n.setSum(i+1, b.summary())
	return nil
}

// fixRoot restores the root's bounds: an overfull root splits under a new root
// (the only way the tree grows taller), an internal root with one child gives
// way to it, and an empty leaf root becomes the canonical empty tree.
func (x *Txn[V, C, P]) fixRoot() error {
	r := &x.r
	if r.height == 0 {
		switch {
		case r.leaf.count() == 0:
			x.dropLeaf(r.leaf)
			r.leaf = nil
		case r.leaf.count() > leafMax:
			top, err := fresh[inner[V, C, P]](x)
			if err != nil {
				return err
			}
			top.n.Store(1)
			top.leaves[0].Store(r.leaf)
			if err := split(x, top, &top.leaves, 0); err != nil {
				// top is private and unreachable: drop it; r is unchanged.
				x.dropInner(top)
				return err
			}
			r.leaf, r.top, r.height = nil, top, 1
		}
		return nil
	}
	if r.top.count() > innerMax {
		top, err := fresh[inner[V, C, P]](x)
		if err != nil {
			return err
		}
		top.n.Store(1)
		top.kids[0].Store(r.top)
		if err := split(x, top, &top.kids, 0); err != nil {
			x.dropInner(top)
			return err
		}
		r.top = top
		r.height++
		return nil
	}
	for r.height > 0 && r.top.count() == 1 {
		old := r.top
		if r.height == 1 {
			r.leaf, r.top = old.leaves[0].Load(), nil
		} else {
			r.top = old.kids[0].Load()
		}
		x.dropInner(old)
		r.height--
	}
	if r.height == 0 && r.leaf.count() == 0 {
		x.dropLeaf(r.leaf)
		r.leaf = nil
	}
	return nil
}

// Set overwrites the value of the item that starts exactly at start; its range
// does not change, so only the path to its leaf is copied and no summary moves.
// There must be such an item.
func (x *Txn[V, C, P]) Set(start uint64, val V) error {
	if err := x.check(); err != nil {
		return err
	}
	x.flush()
	l, err := x.ownPath(start)
	if err != nil {
		return x.setErr(err)
	}
	j := l.startUpper(l.count(), start) - 1
	if j < 0 || l.startAt(j) != start {
		panic(fmt.Sprintf("tree: Set: no item starts at %#x", start))
	}
	P(&l.items[j].val).Store(val)
	x.dirty = true
	return nil
}

// ownPath makes the path to the leaf that would hold an item starting at addr
// private to the Txn and returns that leaf. Copies of published nodes are
// identical to them, so a failure half way leaves the working state consistent.
func (x *Txn[V, C, P]) ownPath(addr uint64) (*leaf[V, C, P], error) {
	r := &x.r
	if r.height == 0 {
		if r.leaf == nil {
			panic(fmt.Sprintf("tree: Set: no item starts at %#x", addr))
		}
		return x.ownRootLeaf()
	}
	n, err := x.ownRootInner()
	for h := r.height; err == nil; h-- {
		i := max(upper(&n.start, n.count(), addr)-1, 0)
		if h == 1 {
			return x.ownLeaf(&n.leaves[i])
		}
		n, err = x.ownInner(&n.kids[i])
	}
	return nil, err
}

// countSlots and countEntries add k leaf slots or child entries to the
// writer's copy statistic (recycler.copied).
func (x *Txn[V, C, P]) countSlots(k int) {
	var s slot[V, C, P]
	x.t.rc.copied += uint64(k) * uint64(unsafe.Sizeof(s))
}

func (x *Txn[V, C, P]) countEntries(k int) { x.t.rc.copied += uint64(k) * entryBytes }

// entryBytes is one child entry of an inner node: start, end, gap and the
// two typed child pointers.
const entryBytes = 5 * 8

// countMoved adds k entries of a rebalancing move between nodes of type N.
func countMoved[L any, N nodePtr[L, N], V any, C comparable, P Cell[C, V]](x *Txn[V, C, P], k int) {
	var z N
	if _, ok := any(z).(*leaf[V, C, P]); ok {
		x.countSlots(k)
	} else {
		x.countEntries(k)
	}
}

// CopiedBytes returns how many bytes of slots and child entries writes have
// copied into nodes so far (recycler.copied). Only the holder of the write
// exclusion may call it.
func (t *Tree[V, C, P]) CopiedBytes() uint64 { return t.rc.copied }

// InPlaceWrites returns how many commits wrote a leaf in place
// (inplace.go). Only the holder of the write exclusion may call it.
func (t *Tree[V, C, P]) InPlaceWrites() uint64 { return t.inPlaceWrites }
