package tree

import "sync/atomic"

// Node layout and the primitive moves that the writer's rebalancing is built from.
//
// Both node kinds keep their contents in fixed-size arrays inside the node, so a
// node is exactly one allocation. Each array has one slot more than the node may
// hold in a valid tree: a write first lets a node overflow by one, and the parent
// then repairs it (spill into a neighbour or split). That keeps every write a
// single bottom-up pass with the repair logic in one place (fixChild) instead of
// splitting pre-emptively on the way down.
//
// Every field a lockless reader reads is an atomic (seq, n, the slots), because a
// node is recycled (recycle.go): a reader that loaded a pointer to it in an older
// version may still be reading it while the writer refills it. The reader's
// re-check of seq throws such reads away; the atomics make them well defined.
// The fields below the slots are the writer's alone.

const (
	// leafMax items per leaf. A slot is 16 bytes of range plus the value's
	// cell (cell.go): 32 bytes for a 16-byte value, so a leaf is 16 + 30*32
	// + 16 = 992 bytes (1024-byte size class); with the 32-byte cell of
	// internal/mm's areas, 1472 bytes (1536-byte class). Fewer, smaller
	// slots would cut the bytes a leaf copy compares, but add a level to
	// every walk at 1,000,000 items.
	leafMax = 29
	leafMin = leafMax / 2

	// innerMax children per internal node: 16 + 17*40 + 16 = 712 bytes
	// (768-byte class). A write copies one per level: 8 would copy fewer bytes,
	// yet Find over 1,000,000 items measured clearly slower with the extra level.
	innerMax = 16
	innerMin = innerMax / 2
)

// slot is one item in a leaf, its value inline in a cell (cell.go): the
// value is written only while the leaf is private to the writer, and a
// lockless reader's loads of it are validated by the leaf's seq like the
// range's.
type slot[V any, C comparable, P Cell[C, V]] struct {
	start, end atomic.Uint64
	val        C
}

// leaf holds items in address order. Slots at and beyond n are always zero so
// that a removed item's value does not keep anything alive.
type leaf[V any, C comparable, P Cell[C, V]] struct {
	seq   atomic.Uint64 // seqcount: odd while private to a writer, retired or free
	n     atomic.Int32
	dead  bool // writer: dropped from the Txn's working tree
	items [leafMax + 1]slot[V, C, P]
	gen   uint64         // writer: generation of the Txn that made this copy; see Txn
	next  *leaf[V, C, P] // writer: free-list and limbo link
}

// inner is an internal node. For each child i it keeps, next to the pointer, the
// child's summary: the Start of its first item (the separator used to route
// lookups), the End of its last item, and the largest gap between two
// consecutive items inside the child. Keeping the summaries in the parent rather
// than in the child lets a search decide which child to enter without touching
// the children, and lets the parent compute the gaps that straddle two children
// (start[i+1] - end[i]).
//
// Children are leaves when the node is at height 1 and inner nodes above that;
// exactly one of kids and leaves is used, as the height says. Two typed arrays
// cost 8 bytes per child more than one untyped one but need neither unsafe nor an
// interface type switch on the lookup path.
type inner[V any, C comparable, P Cell[C, V]] struct {
	seq    atomic.Uint64
	n      atomic.Int32
	dead   bool
	start  [innerMax + 1]atomic.Uint64
	end    [innerMax + 1]atomic.Uint64
	gap    [innerMax + 1]atomic.Uint64
	kids   [innerMax + 1]atomic.Pointer[inner[V, C, P]]
	leaves [innerMax + 1]atomic.Pointer[leaf[V, C, P]]
	gen    uint64
	next   *inner[V, C, P]
}

// node is what the generic rebalancing code (fixPair and friends) needs from
// either node kind; N is the node's own pointer type.
type node[N any] interface {
	count() int
	owner() uint64
	moveTail(dst N, k int)
	moveHead(src N, k int)
	appendAll(src N)
	summary() sum
}

// sum is what a parent stores about one child.
type sum struct{ start, end, gap uint64 }

func (l *leaf[V, C, P]) count() int     { return int(l.n.Load()) }
func (l *leaf[V, C, P]) owner() uint64  { return l.gen }
func (n *inner[V, C, P]) count() int    { return int(n.n.Load()) }
func (n *inner[V, C, P]) owner() uint64 { return n.gen }

// Slot accessors. Loads of a valid index in a stable node.
func (l *leaf[V, C, P]) startAt(j int) uint64 { return l.items[j].start.Load() }
func (l *leaf[V, C, P]) endAt(j int) uint64   { return l.items[j].end.Load() }

// item returns slot j as an Item. A lockless reader racing a refill may get
// a mix of two items, which its re-check of the leaf's seq throws away.
func (l *leaf[V, C, P]) item(j int) Item[V] {
	s := &l.items[j]
	return Item[V]{s.start.Load(), s.end.Load(), P(&s.val).Load()}
}

// copyFrom copies slot s to d, storing only the words that differ. A locked
// store costs several times a load and compare, and with LIFO free lists the
// node refilled is often the previous version of the same node (a write, then
// one that undoes it), so most words are already right.
//
// Whole slots are compared first, with plain loads: only the writer stores
// to slots, so its plain reads race with nothing (readers only load). An
// equal slot, the common case, then costs one compare instead of two calls
// into the cell (its methods are reached through the generic dictionary and
// not inlined): a Map+Unmap pair went from 52,782 to 49,996 instructions
// under callgrind (48,618 with boxed values; docs/perf.md).
func (d *slot[V, C, P]) copyFrom(s *slot[V, C, P]) {
	if *d == *s {
		return
	}
	storeIfNew(&d.start, s.start.Load())
	storeIfNew(&d.end, s.end.Load())
	P(&d.val).Store(P(&s.val).Load())
}

func storeIfNew(w *atomic.Uint64, v uint64) {
	if w.Load() != v {
		w.Store(v)
	}
}

func (d *slot[V, C, P]) zero() {
	if *d == (slot[V, C, P]{}) {
		return
	}
	storeIfNew(&d.start, 0)
	storeIfNew(&d.end, 0)
	var zero V
	P(&d.val).Store(zero)
}

// copyItems copies k slots from src[si:] to l[di:]; l and src may be the same
// leaf (the copy runs in the direction that makes it a memmove).
func (l *leaf[V, C, P]) copyItems(di int, src *leaf[V, C, P], si, k int) {
	if l == src && di > si {
		for j := k - 1; j >= 0; j-- {
			l.items[di+j].copyFrom(&src.items[si+j])
		}
		return
	}
	for j := 0; j < k; j++ {
		l.items[di+j].copyFrom(&src.items[si+j])
	}
}

func (l *leaf[V, C, P]) clearItems(from, to int) {
	for j := from; j < to; j++ {
		l.items[j].zero()
	}
}

// setN sets the count; the writer owns the leaf.
func (l *leaf[V, C, P]) setN(m int) { l.n.Store(int32(m)) }

// fill makes n (private, odd) a copy of src; entries n held beyond src's
// count from an earlier life are cleared.
//
// Negative result: comparing each of the five arrays whole first (as
// copyFrom compares slots) added instructions instead of saving them
// (50,603 against 49,996 per Map+Unmap pair under callgrind; docs/perf.md):
// the arrays seldom matched whole, and the compare came on top of the copy.
func (n *inner[V, C, P]) fill(src *inner[V, C, P]) {
	old, m := n.count(), src.count()
	n.copyEntries(0, src, 0, m)
	n.clearEntries(m, old)
	n.n.Store(int32(m))
}

// summary returns what the parent stores for this leaf. An empty leaf only
// exists for the moment between a deletion and its parent merging it away, and
// its summary is never read.
func (l *leaf[V, C, P]) summary() sum {
	n := l.count()
	if n == 0 {
		return sum{}
	}
	var gap uint64
	prevEnd := l.endAt(0)
	for j := 1; j < n; j++ {
		s := l.startAt(j)
		if g := s - prevEnd; g > gap {
			gap = g
		}
		prevEnd = l.endAt(j)
	}
	return sum{l.startAt(0), prevEnd, gap}
}

func (n *inner[V, C, P]) summary() sum {
	c := n.count()
	if c == 0 {
		return sum{}
	}
	gap := n.gap[0].Load()
	for i := 1; i < c; i++ {
		gap = max(gap, n.gap[i].Load(), n.start[i].Load()-n.end[i-1].Load())
	}
	return sum{n.start[0].Load(), n.end[c-1].Load(), gap}
}

func (n *inner[V, C, P]) sumAt(i int) sum {
	return sum{n.start[i].Load(), n.end[i].Load(), n.gap[i].Load()}
}

// setSum stores child i's summary, skipping words that do not change (a
// locked store costs far more than a load).
func (n *inner[V, C, P]) setSum(i int, s sum) {
	storeIfNew(&n.start[i], s.start)
	storeIfNew(&n.end[i], s.end)
	storeIfNew(&n.gap[i], s.gap)
}

// moveTail moves the last k items of l to the front of dst.
func (l *leaf[V, C, P]) moveTail(dst *leaf[V, C, P], k int) {
	ln, dn := l.count(), dst.count()
	dst.copyItems(k, dst, 0, dn)
	dst.copyItems(0, l, ln-k, k)
	l.clearItems(ln-k, ln)
	l.setN(ln - k)
	dst.setN(dn + k)
}

// moveHead moves the first k items of src to the end of l.
func (l *leaf[V, C, P]) moveHead(src *leaf[V, C, P], k int) {
	ln, sn := l.count(), src.count()
	l.copyItems(ln, src, 0, k)
	src.copyItems(0, src, k, sn-k)
	src.clearItems(sn-k, sn)
	l.setN(ln + k)
	src.setN(sn - k)
}

// appendAll copies src's items to the end of l without touching src, which may
// be a published node (a merge only reads its right-hand sibling).
func (l *leaf[V, C, P]) appendAll(src *leaf[V, C, P]) {
	ln, sn := l.count(), src.count()
	l.copyItems(ln, src, 0, sn)
	l.setN(ln + sn)
}

func (n *inner[V, C, P]) copyEntry(di int, src *inner[V, C, P], si int) {
	storeIfNew(&n.start[di], src.start[si].Load())
	storeIfNew(&n.end[di], src.end[si].Load())
	storeIfNew(&n.gap[di], src.gap[si].Load())
	if k := src.kids[si].Load(); n.kids[di].Load() != k {
		n.kids[di].Store(k)
	}
	if l := src.leaves[si].Load(); n.leaves[di].Load() != l {
		n.leaves[di].Store(l)
	}
}

// copyEntries copies k child entries from src[si:] to n[di:]; n and src may be
// the same node (the copy runs in the direction that makes it a memmove).
func (n *inner[V, C, P]) copyEntries(di int, src *inner[V, C, P], si, k int) {
	if n == src && di > si {
		for j := k - 1; j >= 0; j-- {
			n.copyEntry(di+j, src, si+j)
		}
		return
	}
	for j := 0; j < k; j++ {
		n.copyEntry(di+j, src, si+j)
	}
}

func (n *inner[V, C, P]) clearEntries(from, to int) {
	for i := from; i < to; i++ {
		storeIfNew(&n.start[i], 0)
		storeIfNew(&n.end[i], 0)
		storeIfNew(&n.gap[i], 0)
		if n.kids[i].Load() != nil {
			n.kids[i].Store(nil)
		}
		if n.leaves[i].Load() != nil {
			n.leaves[i].Store(nil)
		}
	}
}

func (n *inner[V, C, P]) moveTail(dst *inner[V, C, P], k int) {
	nn, dn := n.count(), dst.count()
	dst.copyEntries(k, dst, 0, dn)
	dst.copyEntries(0, n, nn-k, k)
	n.clearEntries(nn-k, nn)
	n.n.Store(int32(nn - k))
	dst.n.Store(int32(dn + k))
}

func (n *inner[V, C, P]) moveHead(src *inner[V, C, P], k int) {
	nn, sn := n.count(), src.count()
	n.copyEntries(nn, src, 0, k)
	src.copyEntries(0, src, k, sn-k)
	src.clearEntries(sn-k, sn)
	n.n.Store(int32(nn + k))
	src.n.Store(int32(sn - k))
}

func (n *inner[V, C, P]) appendAll(src *inner[V, C, P]) {
	nn, sn := n.count(), src.count()
	n.copyEntries(nn, src, 0, sn)
	n.n.Store(int32(nn + sn))
}

// insertEntry opens slot i (shifting i.. right); the caller fills it.
func (n *inner[V, C, P]) insertEntry(i int) {
	c := n.count()
	n.copyEntries(i+1, n, i, c-i)
	n.n.Store(int32(c + 1))
}

// removeEntry closes slot i.
func (n *inner[V, C, P]) removeEntry(i int) {
	c := n.count()
	n.copyEntries(i, n, i+1, c-i-1)
	n.n.Store(int32(c - 1))
	n.clearEntries(c-1, c)
}

// Searches. A binary search over at most 17 children or 30 items costs four or
// five compares. The count passed in is clamped by the callers, so that a
// reader racing a refill cannot index out of range; what it finds there is
// thrown away by its seq re-check.

// upper returns the number of keys <= key among a[:n].
func upper(a *[innerMax + 1]atomic.Uint64, n int, key uint64) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m].Load() <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// lower returns the number of keys < key among a[:n].
func lower(a *[innerMax + 1]atomic.Uint64, n int, key uint64) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m].Load() < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// startUpper returns the index of the first of the first n items with Start > key.
func (l *leaf[V, C, P]) startUpper(n int, key uint64) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.items[m].start.Load() <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// startLower returns the index of the first of the first n items with Start >= key.
func (l *leaf[V, C, P]) startLower(n int, key uint64) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.items[m].start.Load() < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// endUpper returns the index of the first of the first n items with End > key.
func (l *leaf[V, C, P]) endUpper(n int, key uint64) int {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.items[m].end.Load() <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// clampLeaf and clampInner bound a count read by a lockless reader.
func clampLeaf(n int32) int  { return int(min(max(n, 0), leafMax+1)) }
func clampInner(n int32) int { return int(min(max(n, 0), innerMax+1)) }
