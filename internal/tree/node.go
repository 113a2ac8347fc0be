package tree

// Node layout and the primitive moves that the writer's rebalancing is built from.
//
// Both node kinds keep their contents in fixed-size arrays inside the node, so a
// node is exactly one allocation and copying it for copy-on-write is one memmove.
// Each array has one slot more than the node may hold in a valid tree: a write
// first lets a node overflow by one, and the parent then repairs it (spill into a
// neighbour or split). That keeps every write a single bottom-up pass with the
// repair logic in one place (fixChild) instead of splitting pre-emptively on the
// way down.

const (
	// leafMax items per leaf. With the slack slot and the 16-byte header a leaf of
	// 32-byte items is 16+31*32 = 1008 bytes, which fits the 1024-byte size class
	// with nothing wasted; see the package doc for the measured cost per item.
	leafMax = 30
	leafMin = leafMax / 2

	// innerMax children per internal node: 16+17*40 = 696 bytes (704-byte class).
	// Internal nodes are about 1/15 of the leaves, so their size matters little
	// for memory, but a write copies one per level: 8 would copy fewer bytes, yet
	// Find over 1,000,000 items measured clearly slower with the extra level
	// (and 32 copies more bytes per level than it saves in levels).
	innerMax = 16
	innerMin = innerMax / 2
)

// leaf holds items in address order. Slots at and beyond n are always zero so
// that a removed item's value does not keep anything alive.
type leaf[V any] struct {
	gen   uint64 // generation of the Txn that created this copy; see Txn
	n     int
	items [leafMax + 1]Item[V]
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
type inner[V any] struct {
	gen    uint64
	n      int
	start  [innerMax + 1]uint64
	end    [innerMax + 1]uint64
	gap    [innerMax + 1]uint64
	kids   [innerMax + 1]*inner[V]
	leaves [innerMax + 1]*leaf[V]
}

// node is what the generic rebalancing code (fixPair and friends) needs from
// either node kind; N is the node's own pointer type.
type node[N any] interface {
	count() int
	owner() uint64
	clone(gen uint64) N
	fresh(gen uint64) N // called on a nil receiver: allocates an empty node
	moveTail(dst N, k int)
	moveHead(src N, k int)
	appendAll(src N)
	summary() sum
}

// sum is what a parent stores about one child.
type sum struct{ start, end, gap uint64 }

func (l *leaf[V]) count() int     { return l.n }
func (l *leaf[V]) owner() uint64  { return l.gen }
func (n *inner[V]) count() int    { return n.n }
func (n *inner[V]) owner() uint64 { return n.gen }

func (*leaf[V]) fresh(gen uint64) *leaf[V]   { return &leaf[V]{gen: gen} }
func (*inner[V]) fresh(gen uint64) *inner[V] { return &inner[V]{gen: gen} }

// clone copies only the used slots: the rest of a fresh allocation is already
// zero, and copying 1 KiB of mostly empty leaf would be wasted work.
func (l *leaf[V]) clone(gen uint64) *leaf[V] {
	c := &leaf[V]{gen: gen, n: l.n}
	copy(c.items[:l.n], l.items[:l.n])
	return c
}

func (n *inner[V]) clone(gen uint64) *inner[V] {
	c := &inner[V]{gen: gen, n: n.n}
	c.copyEntries(0, n, 0, n.n)
	return c
}

// summary returns what the parent stores for this leaf. An empty leaf only
// exists for the moment between a deletion and its parent merging it away, and
// its summary is never read.
func (l *leaf[V]) summary() sum {
	if l.n == 0 {
		return sum{}
	}
	it := l.items[:l.n]
	var gap uint64
	for j := 1; j < len(it); j++ {
		if g := it[j].Start - it[j-1].End; g > gap {
			gap = g
		}
	}
	return sum{it[0].Start, it[len(it)-1].End, gap}
}

func (n *inner[V]) summary() sum {
	if n.n == 0 {
		return sum{}
	}
	gap := n.gap[0]
	for i := 1; i < n.n; i++ {
		gap = max(gap, n.gap[i], n.start[i]-n.end[i-1])
	}
	return sum{n.start[0], n.end[n.n-1], gap}
}

func (n *inner[V]) setSum(i int, s sum) {
	n.start[i], n.end[i], n.gap[i] = s.start, s.end, s.gap
}

// moveTail moves the last k items of l to the front of dst.
func (l *leaf[V]) moveTail(dst *leaf[V], k int) {
	copy(dst.items[k:dst.n+k], dst.items[:dst.n])
	copy(dst.items[:k], l.items[l.n-k:l.n])
	clear(l.items[l.n-k : l.n])
	l.n -= k
	dst.n += k
}

// moveHead moves the first k items of src to the end of l.
func (l *leaf[V]) moveHead(src *leaf[V], k int) {
	copy(l.items[l.n:l.n+k], src.items[:k])
	copy(src.items[:src.n-k], src.items[k:src.n])
	clear(src.items[src.n-k : src.n])
	l.n += k
	src.n -= k
}

// appendAll copies src's items to the end of l without touching src, which may
// be a published node (a merge only reads its right-hand sibling).
func (l *leaf[V]) appendAll(src *leaf[V]) {
	copy(l.items[l.n:l.n+src.n], src.items[:src.n])
	l.n += src.n
}

// copyEntries copies k child entries from src[si:] to n[di:]; n and src may be
// the same node (copy is a memmove).
func (n *inner[V]) copyEntries(di int, src *inner[V], si, k int) {
	copy(n.start[di:di+k], src.start[si:si+k])
	copy(n.end[di:di+k], src.end[si:si+k])
	copy(n.gap[di:di+k], src.gap[si:si+k])
	copy(n.kids[di:di+k], src.kids[si:si+k])
	copy(n.leaves[di:di+k], src.leaves[si:si+k])
}

func (n *inner[V]) clearEntries(from, to int) {
	clear(n.start[from:to])
	clear(n.end[from:to])
	clear(n.gap[from:to])
	clear(n.kids[from:to])
	clear(n.leaves[from:to])
}

func (n *inner[V]) moveTail(dst *inner[V], k int) {
	dst.copyEntries(k, dst, 0, dst.n)
	dst.copyEntries(0, n, n.n-k, k)
	n.clearEntries(n.n-k, n.n)
	n.n -= k
	dst.n += k
}

func (n *inner[V]) moveHead(src *inner[V], k int) {
	n.copyEntries(n.n, src, 0, k)
	src.copyEntries(0, src, k, src.n-k)
	src.clearEntries(src.n-k, src.n)
	n.n += k
	src.n -= k
}

func (n *inner[V]) appendAll(src *inner[V]) {
	n.copyEntries(n.n, src, 0, src.n)
	n.n += src.n
}

// insertEntry opens slot i (shifting i.. right); the caller fills it.
func (n *inner[V]) insertEntry(i int) {
	n.copyEntries(i+1, n, i, n.n-i)
	n.n++
}

// removeEntry closes slot i.
func (n *inner[V]) removeEntry(i int) {
	n.copyEntries(i, n, i+1, n.n-i-1)
	n.n--
	n.clearEntries(n.n, n.n+1)
}

// Searches. A binary search over at most 17 children or 31 items costs four or
// five compares; in the leaves, where keys are 32 bytes apart, it also touches
// fewer cache lines than a scan.

// upper returns the number of keys <= key, i.e. the index of the first key > key.
func upper(a []uint64, key uint64) int {
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m] <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// lower returns the number of keys < key, i.e. the index of the first key >= key.
func lower(a []uint64, key uint64) int {
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m] < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// startUpper returns the index of the first item with Start > key.
func (l *leaf[V]) startUpper(key uint64) int {
	it := l.items[:l.n]
	lo, hi := 0, len(it)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if it[m].Start <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// startLower returns the index of the first item with Start >= key.
func (l *leaf[V]) startLower(key uint64) int {
	it := l.items[:l.n]
	lo, hi := 0, len(it)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if it[m].Start < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// endUpper returns the index of the first item with End > key.
func (l *leaf[V]) endUpper(key uint64) int {
	it := l.items[:l.n]
	lo, hi := 0, len(it)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if it[m].End <= key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
