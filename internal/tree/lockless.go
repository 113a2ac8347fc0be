package tree

// Lockless lookups on the published tree (the part of lock_vma_under_rcu that
// walks the maple tree under rcu_read_lock).
//
// The reader takes no lock and registers nowhere: it validates instead. Every
// node has a seqcount that is odd whenever the node's contents may be changing
// (from the commit that unlinks it, through its time on a free list, until the
// commit that publishes it again as another node), and even while it is part of
// a published version, whose nodes are never written. Nodes are reused only as
// nodes of the same kind, so a pointer a reader holds always leads to a node,
// possibly one that now holds something else.
//
// A reader walks down hand over hand (optimistic lock coupling): at each node it
// reads the node's seq, then re-checks the seq of the node (or root) it came
// from. The re-check proves the parent still had the version the reader used to
// pick this child, so the child was still linked, and had not been refilled,
// when its seq was read: a commit retires (makes odd) every node it unlinks,
// parents included, before any of them can be reused, and a published parent
// changes only by being unlinked or by an in-place commit, which makes it odd
// before its child and its own words change (inplace.go). At the leaf the reader re-checks the leaf's
// seq after copying the item. Any failed check restarts from the root. What a
// successful walk returns is therefore what one published version held, a
// version that was current at some moment during the call.

// Find returns the item of the published tree with Start <= addr < End. It takes
// no lock, allocates nothing and never blocks a writer; it retries when a
// commit changed the nodes it walked.
func (t *Tree[V, C, P]) Find(addr uint64) (Item[V], bool) {
	for spins := 0; ; spins++ {
		if it, ok, valid := t.find(addr); valid {
			return it, ok
		}
		backoff(spins)
	}
}

// FindVal is Find for a caller that needs only the value: the fault
// path's lookup. The value is loaded inside the validated window like
// Find's item, so it is one published version's and the caller owns the
// copy; what it points to is the caller's business (internal/mm revalidates
// the area under the area's lock). It returns the value alone because
// copying a whole Item through two returns was about a third of a
// present-page fault when the value was boxed (measured then; the box and
// its pointer are gone, see cell.go).
func (t *Tree[V, C, P]) FindVal(addr uint64) (V, bool) {
	for spins := 0; ; spins++ {
		if v, ok, valid := t.findVal(addr); valid {
			return v, ok
		}
		backoff(spins)
	}
}

// findVal is one try of FindVal; valid is false when a re-check failed.
// Its walk is find's, written out again on purpose: with the walk factored
// into one helper returning the leaf, the slot and the leaf's seq, a
// present-page fault measured 61-77 ns against 51-70 ns (5 runs each,
// BenchmarkFault/present/areas=1000, per-area), the helper's call and four
// results costing more than the shared lines save.
func (t *Tree[V, C, P]) findVal(addr uint64) (v V, found, valid bool) {
	ts := t.seq.Load()
	rc := &t.copy[ts&1]
	h := int(rc.height.Load())
	pseq, pv := &t.seq, ts
	l := rc.leaf.Load()
	if h > 0 {
		n := rc.top.Load()
		for {
			if n == nil {
				return
			}
			ns := n.seq.Load()
			if ns&1 != 0 || pseq.Load() != pv {
				return
			}
			i := upper(&n.start, clampInner(n.n.Load()), addr) - 1
			if i < 0 || addr >= n.end[i].Load() {
				return v, false, n.seq.Load() == ns
			}
			pseq, pv = &n.seq, ns
			if h == 1 {
				l = n.leaves[i].Load()
				break
			}
			n = n.kids[i].Load()
			h--
		}
	}
	if l == nil {
		return v, false, pseq.Load() == pv && h == 0
	}
	t.hook(hookReadLeaf)
	ls := l.seq.Load()
	if ls&1 != 0 || pseq.Load() != pv {
		return
	}
	j := l.startUpper(clampLeaf(l.n.Load()), addr) - 1
	if j < 0 {
		return v, false, l.seq.Load() == ls
	}
	t.hook(hookReadItem)
	sl := &l.items[j]
	if addr < sl.end.Load() {
		v, found = P(&sl.val).Load(), true
	}
	t.hook(hookReadValue)
	if l.seq.Load() != ls {
		var zero V
		return zero, false, false
	}
	return v, found, true
}

// find is one try of Find; valid is false when a re-check failed.
func (t *Tree[V, C, P]) find(addr uint64) (it Item[V], found, valid bool) {
	ts := t.seq.Load()
	rc := &t.copy[ts&1]
	h := int(rc.height.Load())
	pseq, pv := &t.seq, ts
	l := rc.leaf.Load()
	if h > 0 {
		n := rc.top.Load()
		for {
			if n == nil {
				return
			}
			ns := n.seq.Load()
			if ns&1 != 0 || pseq.Load() != pv {
				return
			}
			i := upper(&n.start, clampInner(n.n.Load()), addr) - 1
			if i < 0 || addr >= n.end[i].Load() {
				return it, false, n.seq.Load() == ns
			}
			pseq, pv = &n.seq, ns
			if h == 1 {
				l = n.leaves[i].Load()
				break
			}
			n = n.kids[i].Load()
			h--
		}
	}
	if l == nil {
		// An empty tree (height 0), or a torn read of a refilled node.
		return it, false, pseq.Load() == pv && h == 0
	}
	t.hook(hookReadLeaf)
	ls := l.seq.Load()
	if ls&1 != 0 || pseq.Load() != pv {
		return
	}
	j := l.startUpper(clampLeaf(l.n.Load()), addr) - 1
	if j < 0 {
		return it, false, l.seq.Load() == ls
	}
	t.hook(hookReadItem)
	it = l.item(j)
	t.hook(hookReadValue)
	if l.seq.Load() != ls {
		return Item[V]{}, false, false
	}
	if addr >= it.End {
		return Item[V]{}, false, true
	}
	return it, true, true
}

// First returns the first item of the published tree with End > from, and
// Last the last one with Start < before; both as lockless as Find.
func (t *Tree[V, C, P]) First(from uint64) (Item[V], bool) { return t.edge(from, true) }

// Last: see First.
func (t *Tree[V, C, P]) Last(before uint64) (Item[V], bool) { return t.edge(before, false) }

func (t *Tree[V, C, P]) edge(key uint64, first bool) (Item[V], bool) {
	for spins := 0; ; spins++ {
		if it, ok, valid := t.edgeTry(key, first); valid {
			return it, ok
		}
		backoff(spins)
	}
}

func (t *Tree[V, C, P]) edgeTry(key uint64, first bool) (it Item[V], found, valid bool) {
	ts := t.seq.Load()
	rc := &t.copy[ts&1]
	h := int(rc.height.Load())
	pseq, pv := &t.seq, ts
	l := rc.leaf.Load()
	if h > 0 {
		n := rc.top.Load()
		for {
			if n == nil {
				return
			}
			ns := n.seq.Load()
			if ns&1 != 0 || pseq.Load() != pv {
				return
			}
			c := clampInner(n.n.Load())
			var i int
			if first {
				i = upper(&n.end, c, key)
			} else {
				i = lower(&n.start, c, key) - 1
			}
			if i < 0 || i >= c {
				return it, false, n.seq.Load() == ns
			}
			pseq, pv = &n.seq, ns
			if h == 1 {
				l = n.leaves[i].Load()
				break
			}
			n = n.kids[i].Load()
			h--
		}
	}
	if l == nil {
		return it, false, pseq.Load() == pv && h == 0
	}
	t.hook(hookReadLeaf)
	ls := l.seq.Load()
	if ls&1 != 0 || pseq.Load() != pv {
		return
	}
	c := clampLeaf(l.n.Load())
	var j int
	if first {
		j = l.endUpper(c, key)
	} else {
		j = l.startLower(c, key) - 1
	}
	if j < 0 || j >= c {
		return it, false, l.seq.Load() == ls
	}
	t.hook(hookReadItem)
	it = l.item(j)
	t.hook(hookReadValue)
	if l.seq.Load() != ls {
		return Item[V]{}, false, false
	}
	return it, true, true
}

// hookPoint names a place where a test can stop a reader or the writer.
type hookPoint int

const (
	hookPublish       hookPoint = iota // Commit: copy 0 of the root written, sequence odd
	hookPublishSecond                  // Commit: sequence even, copy 1 written
	hookRefill                         // a reused node half refilled
	hookRetire                         // Commit: leaves retired, internal nodes not yet
	hookReadLeaf                       // Find, First, Last: leaf pointer loaded, its seq not yet
	hookReadItem                       // ... item found in the leaf, not yet copied
	hookReadValue                      // ... item copied, the leaf's seq not yet re-checked
	hookInPlace                        // Commit in place: leaf odd, suffix shifted, new items not yet stored
)

// hooks are the test failpoints; a nil Tree.hooks costs one load and branch.
type hooks struct{ at func(hookPoint) }

func (t *Tree[V, C, P]) hook(p hookPoint) {
	if h := t.hooks; h != nil {
		h.at(p)
	}
}
