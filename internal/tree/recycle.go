package tree

// Node recycling: the grace period that makes reuse safe.
//
// The kernel frees a maple node only after an RCU grace period, because a
// reader may still be walking it. Here there are two kinds of readers, and each
// gets its own guarantee without the collector:
//
//   - Lockless lookups (Find, First, Last; lockless.go) register nowhere. They
//     validate: every node they use has its seqcount re-checked, and a node is
//     odd from the commit that unlinks it until the commit that publishes it
//     again. So a node may be reused at once after the commit that unlinked it
//     (type-stable reuse, as SLAB_TYPESAFE_BY_RCU with a seqcount): a lookup
//     that was inside it fails its re-check and restarts from the root.
//   - Snapshots (the listing, Ascend, gap searches) do not validate; they pin.
//     A commit that sees a pin after publishing puts what it unlinked in limbo
//     instead of on the free lists; the first Txn that sees no pin moves limbo
//     to the free lists. Every Snapshot that could reach a limbo node had
//     pinned before that node's commit published (the pin comes before the
//     Snapshot reads the root, the commit reads pins after it publishes), so
//     "no pin seen afterwards" means all of them were released.
//
// In steady state nothing is left to the garbage collector: a write takes its
// nodes from the free lists, and the commit returns as many. The collector is
// only the reclaimer of last resort: nodes beyond the caps below (a tree that
// shrank a lot, or a Snapshot that is never released) are dropped and freed
// once no reader holds them, which is always safe.

const (
	maxFree  = 64   // nodes of each kind kept on a free list
	maxLimbo = 4096 // nodes of each kind kept waiting for pins to go
)

// recycler is the writer's bookkeeping; only the holder of the write exclusion
// touches it.
type recycler[V any, C comparable, P Cell[C, V]] struct {
	freeLeaves  *leaf[V, C, P]
	freeInners  *inner[V, C, P]
	nFreeLeaves int
	nFreeInners int

	limboLeaves  *leaf[V, C, P]
	limboInners  *inner[V, C, P]
	nLimboLeaves int
	nLimboInners int

	reused uint64 // nodes handed out again from the free lists (a statistic)

	// copied counts the bytes of slots and child entries that writes copied
	// or stored into nodes (a statistic, Tree.CopiedBytes): what a write
	// costs in memory traffic beyond its own items, and what stale lockless
	// readers then miss on. Words skipped because they already held the value
	// count too: the count is of what the write had to go over.
	copied uint64

	// This Txn's nodes (odd until Commit) and the published nodes it unlinks.
	newLeaves []*leaf[V, C, P]
	newInners []*inner[V, C, P]
	oldLeaves []*leaf[V, C, P]
	oldInners []*inner[V, C, P]
}

// newLeaf returns a private leaf, odd, holding whatever it held before (the
// caller fills or clears it). It is where the allocation failpoint fires.
func (x *Txn[V, C, P]) newLeaf() (*leaf[V, C, P], error) {
	if err := x.alloc(); err != nil {
		return nil, err
	}
	rc := &x.t.rc
	l := rc.freeLeaves
	if l != nil {
		rc.freeLeaves, l.next = l.next, nil
		rc.nFreeLeaves--
		rc.reused++
	} else {
		l = new(leaf[V, C, P])
		l.seq.Store(1)
	}
	l.gen, l.dead = x.gen, false
	rc.newLeaves = append(rc.newLeaves, l)
	return l, nil
}

func (x *Txn[V, C, P]) newInner() (*inner[V, C, P], error) {
	if err := x.alloc(); err != nil {
		return nil, err
	}
	rc := &x.t.rc
	n := rc.freeInners
	if n != nil {
		rc.freeInners, n.next = n.next, nil
		rc.nFreeInners--
		rc.reused++
	} else {
		n = new(inner[V, C, P])
		n.seq.Store(1)
	}
	n.gen, n.dead = x.gen, false
	rc.newInners = append(rc.newInners, n)
	return n, nil
}

func (rc *recycler[V, C, P]) putLeaf(l *leaf[V, C, P]) {
	if rc.nFreeLeaves < maxFree {
		l.next = rc.freeLeaves
		rc.freeLeaves = l
		rc.nFreeLeaves++
	}
}

func (rc *recycler[V, C, P]) putInner(n *inner[V, C, P]) {
	if rc.nFreeInners < maxFree {
		n.next = rc.freeInners
		rc.freeInners = n
		rc.nFreeInners++
	}
}

// seal runs just before Commit publishes: the Txn's live nodes become stable
// (even), its dead ones (made and dropped in this Txn, never reachable) go
// back to the free lists, still odd.
func (rc *recycler[V, C, P]) seal() {
	for i, l := range rc.newLeaves {
		if l.dead {
			rc.putLeaf(l)
		} else {
			l.seq.Add(1)
		}
		rc.newLeaves[i] = nil
	}
	for i, n := range rc.newInners {
		if n.dead {
			rc.putInner(n)
		} else {
			n.seq.Add(1)
		}
		rc.newInners[i] = nil
	}
	rc.newLeaves, rc.newInners = rc.newLeaves[:0], rc.newInners[:0]
}

// retire runs just after Commit published: every node the Txn unlinked
// becomes odd, all of them before any can be reused (lockless.go relies on a
// parent being odd by the time its child can be refilled), and then goes to
// the free lists, or to limbo while a Snapshot is pinned.
func (rc *recycler[V, C, P]) retire(t *Tree[V, C, P]) {
	for _, l := range rc.oldLeaves {
		l.seq.Add(1)
	}
	t.hook(hookRetire)
	for _, n := range rc.oldInners {
		n.seq.Add(1)
	}
	if t.pins.Load() == 0 {
		rc.reclaim(t)
		// Pushed in reverse: the Txn copied top-down, so the next Txn, which
		// copies top-down too, pops each node's previous version for the same
		// level (often the same node's), and the refill stores little.
		for i := len(rc.oldLeaves) - 1; i >= 0; i-- {
			rc.putLeaf(rc.oldLeaves[i])
		}
		for i := len(rc.oldInners) - 1; i >= 0; i-- {
			rc.putInner(rc.oldInners[i])
		}
	} else {
		for _, l := range rc.oldLeaves {
			if rc.nLimboLeaves < maxLimbo {
				l.next = rc.limboLeaves
				rc.limboLeaves = l
				rc.nLimboLeaves++
			}
		}
		for _, n := range rc.oldInners {
			if rc.nLimboInners < maxLimbo {
				n.next = rc.limboInners
				rc.limboInners = n
				rc.nLimboInners++
			}
		}
	}
	clear(rc.oldLeaves)
	clear(rc.oldInners)
	rc.oldLeaves, rc.oldInners = rc.oldLeaves[:0], rc.oldInners[:0]
}

// reclaim moves limbo to the free lists once no Snapshot is pinned.
func (rc *recycler[V, C, P]) reclaim(t *Tree[V, C, P]) {
	if (rc.limboLeaves == nil && rc.limboInners == nil) || t.pins.Load() != 0 {
		return
	}
	for l := rc.limboLeaves; l != nil; {
		next := l.next
		l.next = nil
		rc.putLeaf(l)
		l = next
	}
	for n := rc.limboInners; n != nil; {
		next := n.next
		n.next = nil
		rc.putInner(n)
		n = next
	}
	rc.limboLeaves, rc.limboInners = nil, nil
	rc.nLimboLeaves, rc.nLimboInners = 0, 0
}

// discard ends a Txn that publishes nothing: its nodes were never reachable
// and go back to the free lists; what it meant to unlink stays published.
func (rc *recycler[V, C, P]) discard() {
	for i, l := range rc.newLeaves {
		rc.putLeaf(l)
		rc.newLeaves[i] = nil
	}
	for i, n := range rc.newInners {
		rc.putInner(n)
		rc.newInners[i] = nil
	}
	clear(rc.oldLeaves)
	clear(rc.oldInners)
	rc.newLeaves, rc.newInners = rc.newLeaves[:0], rc.newInners[:0]
	rc.oldLeaves, rc.oldInners = rc.oldLeaves[:0], rc.oldInners[:0]
}
