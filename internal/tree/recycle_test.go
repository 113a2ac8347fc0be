package tree

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// The tests here force a lockless reader into the middle of each write a
// reader can see (the root's stores at Commit, the retirement and refill of a
// recycled node) and check that it retries and then answers from one version.

// spread builds a height-1 tree of n items [16i, 16i+8), each valued its Start.
func spread(t *testing.T, n int) *Tree[int, intCell, *intCell] {
	t.Helper()
	items := make([]Item[int], n)
	for i := range items {
		items[i] = it(uint64(i)*16, uint64(i)*16+8)
	}
	return build(t, items...)
}

// reuseLeafOf makes the writer unlink the leaf holding addr (a Set elsewhere
// in it copies the path) and then reuse that very leaf as the copy of another
// leaf (a Set far away), as two commits. It returns the reused leaf.
func reuseLeafOf(t *testing.T, tr *Tree[int, intCell, *intCell], addr, far uint64) *leaf[int, intCell, *intCell] {
	t.Helper()
	return reuseLeaf(t, tr, addr, far, 1000, 2000)
}

// reuseLeaf is reuseLeafOf for any value type: v1 and v2 are the values the
// two Sets store.
func reuseLeaf[V any, C comparable, P Cell[C, V]](t *testing.T, tr *Tree[V, C, P], addr, far uint64, v1, v2 V) *leaf[V, C, P] {
	t.Helper()
	old := tr.leafOf(addr)
	neighbour := addr&^15 + 16 // the next item, in the same leaf for the addrs used
	x := tr.Txn()
	if err := x.Set(neighbour, v1); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	if tr.leafOf(addr) == old {
		t.Fatal("the leaf was not replaced")
	}
	x = tr.Txn()
	if err := x.Set(far, v2); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	if tr.leafOf(far) != old {
		t.Fatal("the free list did not hand the unlinked leaf out again")
	}
	return old
}

// leafOf returns the published leaf that holds addr (test helper, no checks).
func (t *Tree[V, C, P]) leafOf(addr uint64) *leaf[V, C, P] {
	r := t.loadRoot()
	if r.height == 0 {
		return r.leaf
	}
	n := r.top
	for h := r.height; ; h-- {
		i := upper(&n.start, n.count(), addr) - 1
		if h == 1 {
			return n.leaves[i].Load()
		}
		n = n.kids[i].Load()
	}
}

// TestReaderStaleLeafReused stops a Find after it loaded the leaf pointer and
// before it read the leaf's seq; meanwhile the leaf is unlinked and refilled
// as another leaf. The reader's re-check of the parent must send it back to
// the root (without it, the reader searches the wrong leaf and misses).
func TestReaderStaleLeafReused(t *testing.T) {
	for _, look := range lookups {
		t.Run(look.name, func(t *testing.T) {
			tr := spread(t, 200)
			const addr, far = 20*16 + 1, 180 * 16
			tries := 0
			tr.hooks = &hooks{at: func(p hookPoint) {
				if p != hookReadLeaf {
					return
				}
				if tries++; tries == 1 {
					tr.hooks = nil // the writer below must not stop itself
					reuseLeafOf(t, tr, addr, far)
					tr.hooks = &hooks{at: func(p hookPoint) {
						if p == hookReadLeaf {
							tries++
						}
					}}
				}
			}}
			val, ok := look.find(tr, addr)
			if !ok || val != 20*16 {
				t.Fatalf("%s(%#x) = %v %v, want the item at %#x", look.name, addr, val, ok, 20*16)
			}
			if tries < 2 {
				t.Fatalf("the reader did not retry (%d tries)", tries)
			}
		})
	}
}

// TestReaderMidItemLeafReused stops a Find after it searched the leaf and
// before it copied the item; meanwhile the leaf is unlinked and refilled. The
// final re-check of the leaf's seq must catch it (without it, the reader
// copies another range's item and misses).
func TestReaderMidItemLeafReused(t *testing.T) {
	for _, look := range lookups {
		t.Run(look.name, func(t *testing.T) {
			tr := spread(t, 200)
			const addr, far = 20*16 + 1, 180 * 16
			tries := 0
			var hk func(p hookPoint)
			hk = func(p hookPoint) {
				if p != hookReadItem {
					return
				}
				if tries++; tries == 1 {
					tr.hooks = nil
					reuseLeafOf(t, tr, addr, far)
					tr.hooks = &hooks{at: hk}
				}
			}
			tr.hooks = &hooks{at: hk}
			val, ok := look.find(tr, addr)
			if !ok || val != 20*16 {
				t.Fatalf("%s(%#x) = %v %v, want the item at %#x", look.name, addr, val, ok, 20*16)
			}
			if tries < 2 {
				t.Fatalf("the reader did not retry (%d tries)", tries)
			}
		})
	}
}

// TestReaderMidRefill runs a stale reader while the writer is stopped half way
// through refilling the reader's leaf (the node is odd then): the reader must
// not use it, and must finish with the right answer while the writer waits.
func TestReaderMidRefill(t *testing.T) {
	tr := spread(t, 200)
	const addr, far = 20*16 + 1, 180 * 16
	atLeaf := make(chan struct{})
	resume := make(chan struct{})
	type result struct {
		it Item[int]
		ok bool
	}
	done := make(chan result)
	var got *result // set by the writer's hook, read after the writer returns
	var readerTries atomic.Int32
	refills := 0
	tr.hooks = &hooks{at: func(p hookPoint) {
		switch p {
		case hookReadLeaf:
			if readerTries.Add(1) == 1 {
				atLeaf <- struct{}{}
				<-resume
			}
		case hookRefill:
			// The writer, half way through refilling a node: the second
			// Txn's copy is the reused leaf. Let the reader go and wait for
			// its answer before finishing the refill.
			if refills++; refills == 2 {
				close(resume)
				r := <-done
				got = &r
			}
		}
	}}
	go func() {
		it, ok := tr.Find(addr)
		done <- result{it, ok}
	}()
	<-atLeaf
	reuseLeafOf(t, tr, addr, far)
	if got == nil {
		close(resume)
		<-done
		t.Fatalf("the writer never stopped in the refill of the reused leaf (%d refills)", refills)
	}
	if !got.ok || got.it.Start != 20*16 || got.it.Val != 20*16 {
		t.Fatalf("Find(%#x) = %v %v", addr, got.it, got.ok)
	}
	if readerTries.Load() < 2 {
		t.Fatalf("the reader did not retry")
	}
}

// TestReaderMidPublish stops Commit inside each half of the latch write (the
// new root in copy 0 with the sequence odd; then the sequence even with copy 1
// rewritten) and runs readers there. Commit grows the tree from one leaf to
// two levels, so a reader that mixed the copies' fields would see a torn root.
// Each reader must succeed at once, without a retry (the latch means readers
// never wait for a writer), and see the old root in the first half and the
// new one in the second. Writing the copy the readers use (publish storing
// into copy[1] first) fails it.
func TestReaderMidPublish(t *testing.T) {
	items := make([]Item[int], leafMax)
	for i := range items {
		items[i] = it(uint64(i)*16, uint64(i)*16+8)
	}
	tr := build(t, items...)
	if tr.loadRoot().height != 0 {
		t.Fatal("want a one-leaf tree")
	}
	fired := map[hookPoint]bool{}
	tr.hooks = &hooks{at: func(p hookPoint) {
		var wantHeight int
		switch p {
		case hookPublish:
			wantHeight = 0
		case hookPublishSecond:
			wantHeight = 1
		default:
			return
		}
		fired[p] = true
		if h := tr.loadRoot().height; h != wantHeight {
			t.Errorf("hook %d: readers see height %d, want %d", p, h, wantHeight)
		}
		if it, ok, valid := tr.find(5*16 + 1); !valid || !ok || it.Start != 5*16 {
			t.Errorf("hook %d: Find = %v %v valid=%v: a torn root or a wait", p, it, ok, valid)
		}
		if v, ok, valid := tr.findVal(5*16 + 1); !valid || !ok || v != items[5].Val {
			t.Errorf("hook %d: FindVal = %v %v valid=%v: a torn root or a wait", p, v, ok, valid)
		}
		if it, ok, valid := tr.edgeTry(5*16+9, true); !valid || !ok || it.Start != 6*16 {
			t.Errorf("hook %d: First = %v %v valid=%v: a torn root or a wait", p, it, ok, valid)
		}
	}}
	x := tr.Txn()
	if err := x.Replace(leafMax*16, leafMax*16+8, []Item[int]{it(leafMax*16, leafMax*16+8)}); err != nil {
		t.Fatal(err)
	}
	x.Commit() // the leaf splits: height 0 -> 1
	if !fired[hookPublish] || !fired[hookPublishSecond] || tr.loadRoot().height != 1 {
		t.Fatal("the commit did not grow the tree through the hooks")
	}
}

// TestPinnedSnapshotNotReused holds a Snapshot across many commits that would
// otherwise recycle its nodes, and checks that every node it reaches is
// untouched (seq aside: retirement marks them), then that releasing it lets
// the writer reuse them.
func TestPinnedSnapshotNotReused(t *testing.T) {
	tr := spread(t, 500)
	snap := tr.Snapshot()
	before := capture(snap)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 200 {
		x := tr.Txn()
		i := uint64(rng.IntN(500))
		if err := x.Set(i*16, rng.Int()); err != nil {
			t.Fatal(err)
		}
		x.Commit()
	}
	after := capture(snap)
	for i := range before.nodes {
		before.nodes[i].seq, after.nodes[i].seq = 0, 0
	}
	if !after.equal(before) {
		t.Fatal("a node of a pinned Snapshot was reused")
	}
	if err := snap.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := tr.rc.nLimboLeaves; n == 0 {
		t.Fatal("nothing waited in limbo while pinned")
	}
	snap.Release()
	x := tr.Txn()
	x.Abort()
	if tr.rc.nLimboLeaves != 0 || tr.rc.nFreeLeaves == 0 {
		t.Fatalf("limbo not reclaimed after Release: %d in limbo, %d free", tr.rc.nLimboLeaves, tr.rc.nFreeLeaves)
	}
}

// TestSteadyStateAllocs checks the point of recycling: once warm, an insert
// and a delete allocate nothing (values live in the leaves, cell.go). With
// the value boxed again (putItems storing a new(V)) it counts 1.
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tr := spread(t, 1000)
	hole := uint64(500*16 + 8)
	ins := []Item[int]{it(hole, hole+4)}
	step := func() {
		x := tr.Txn()
		if err := x.Replace(hole, hole+4, ins); err != nil {
			t.Fatal(err)
		}
		x.Commit()
		x = tr.Txn()
		if err := x.Replace(hole, hole+4, nil); err != nil {
			t.Fatal(err)
		}
		x.Commit()
	}
	step()
	if a := testing.AllocsPerRun(100, step); a != 0 {
		t.Fatalf("%.1f allocations per insert+delete, want 0", a)
	}
}

// TestReaderMidRetire runs readers between the retirement of the unlinked
// leaves and that of their unlinked parents (the new root is published by
// then): each must answer from one version or retry, never mix them.
func TestReaderMidRetire(t *testing.T) {
	tr := spread(t, 200)
	const addr = 20*16 + 1
	fired := 0
	tr.hooks = &hooks{at: func(p hookPoint) {
		if p != hookRetire {
			return
		}
		fired++
		for _, a := range []uint64{addr, 21*16 + 1, 150*16 + 1} {
			if it, ok, valid := tr.find(a); valid && (!ok || it.Start != a-1) {
				t.Errorf("mid-retire Find(%#x) = %v %v (valid)", a, it, ok)
			}
		}
		if it, ok := tr.Find(21*16 + 1); !ok || it.Val != 7 {
			t.Errorf("mid-retire Find after the publish = %v %v, want the new value 7", it, ok)
		}
	}}
	x := tr.Txn()
	if err := x.Set(21*16, 7); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	if fired != 1 {
		t.Fatalf("hook fired %d times", fired)
	}
}

// lookups are the lockless lookups, Find, FindVal (the fault path's), First
// and Last, each as "the value covering addr"; every forced interleaving of
// a reader runs against all of them.
var lookups = []struct {
	name string
	find func(tr *Tree[int, intCell, *intCell], addr uint64) (int, bool)
}{
	{"Find", func(tr *Tree[int, intCell, *intCell], addr uint64) (int, bool) {
		it, ok := tr.Find(addr)
		return it.Val, ok
	}},
	{"FindVal", func(tr *Tree[int, intCell, *intCell], addr uint64) (int, bool) {
		return tr.FindVal(addr)
	}},
	{"First", func(tr *Tree[int, intCell, *intCell], addr uint64) (int, bool) {
		it, ok := tr.First(addr)
		return it.Val, ok && it.Start <= addr
	}},
	{"Last", func(tr *Tree[int, intCell, *intCell], addr uint64) (int, bool) {
		it, ok := tr.Last(addr + 1)
		return it.Val, ok && addr < it.End
	}},
}
