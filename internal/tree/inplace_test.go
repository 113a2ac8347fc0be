package tree

import (
	"testing"
	"unsafe"
)

// Forced interleavings for the in-place writes of inplace.go: every write a
// reader can see half done has a test that stops a reader or the writer in
// the middle of it.

// inPlaceTree is spread(200) (one level of 7 full leaves) with one item
// removed from its third leaf, in place, so that the leaf has room for an
// insert. It returns the tree and that leaf.
func inPlaceTree(t *testing.T) (*Tree[int, intCell, *intCell], *leaf[int, intCell, *intCell]) {
	t.Helper()
	tr := spread(t, 200)
	r := tr.loadRoot()
	if r.height != 1 || r.top.count() < 4 {
		t.Fatalf("want one level of at least 4 leaves, got height %d", r.height)
	}
	l := r.top.leaves[2].Load()
	if l.count() <= leafMin+1 {
		t.Fatalf("leaf 2 holds %d items, too few to delete from", l.count())
	}
	mid := l.startAt(l.count() / 2)
	commitReplace(t, tr, mid, mid+16, nil)
	if tr.leafOf(mid+16) != l {
		t.Fatal("the delete was not done in place")
	}
	return tr, l
}

func commitReplace(t *testing.T, tr *Tree[int, intCell, *intCell], lo, hi uint64, items []Item[int]) {
	t.Helper()
	x := tr.Txn()
	if err := x.Replace(lo, hi, items); err != nil {
		t.Fatal(err)
	}
	x.Commit()
}

// TestInPlaceWriteCopiesLittle checks that an insert and a delete inside one
// leaf write that leaf and nothing else: no node is replaced, and the copy
// statistic counts only the slots stored.
func TestInPlaceWriteCopiesLittle(t *testing.T) {
	tr, l := inPlaceTree(t)
	top := tr.loadRoot().top
	a := l.startAt(l.count() - 2) // the hole after a is no wider than the others
	before := tr.CopiedBytes()
	commitReplace(t, tr, a+8, a+12, []Item[int]{it(a+8, a+12)})
	commitReplace(t, tr, a+8, a+12, nil)
	if r := tr.loadRoot(); r.top != top || tr.leafOf(a) != l {
		t.Fatal("an in-place write replaced a node")
	}
	// The insert stores its item and shifts the last one; the delete shifts
	// it back. No summary changes.
	var s slot[int, intCell, *intCell]
	if got, limit := tr.CopiedBytes()-before, 3*uint64(unsafe.Sizeof(s)); got > limit {
		t.Fatalf("copied %d bytes for an insert and its delete, want at most %d (three slots)", got, limit)
	}
	checkAll(t, tr)
}

// TestInPlaceReaderMidWrite stops the writer half way through an in-place
// write (the suffix shifted, the new item not yet stored) and runs one try
// of every lockless lookup and of Snapshot there: each must fail its try,
// because the leaf is odd and the flag is up, and succeed once the write is
// over. Without the leaf's odd seq the lookups accept a half-written leaf;
// without the flag check a Snapshot pins a version being changed.
func TestInPlaceReaderMidWrite(t *testing.T) {
	tr, l := inPlaceTree(t)
	a := l.startAt(3)
	ins := it(a+8, a+12) // in the hole after the item at a: the suffix shifts
	probe := l.startAt(5) + 1
	fired := false
	tr.hooks = &hooks{at: func(p hookPoint) {
		if p != hookInPlace {
			return
		}
		fired = true
		if _, _, valid := tr.find(probe); valid {
			t.Error("Find accepted a leaf being written in place")
		}
		if _, _, valid := tr.findVal(probe); valid {
			t.Error("FindVal accepted a leaf being written in place")
		}
		if _, _, valid := tr.edgeTry(probe, true); valid {
			t.Error("First accepted a leaf being written in place")
		}
		if s, ok := tr.trySnapshot(); ok {
			s.Release()
			t.Error("a Snapshot was taken inside an in-place section")
		}
	}}
	commitReplace(t, tr, ins.Start, ins.End, []Item[int]{ins})
	tr.hooks = nil
	if !fired {
		t.Fatal("the write was not done in place")
	}
	if got, ok := tr.Find(ins.Start); !ok || got != ins {
		t.Fatalf("Find after the write = %v %v, want %v", got, ok, ins)
	}
	checkAll(t, tr)
}

// TestInPlaceReaderMidRead stops each lockless lookup at each of its hooks
// inside the leaf and commits an in-place write to that leaf there: the
// lookup's try must fail (the leaf's seq moved) and the retry see the new
// version (stopped before reading the leaf's seq, it may instead read the
// new leaf whole). Without the leaf's seq bump, a lookup stopped before copying the
// item copies the shifted slot and returns a wrong item.
func TestInPlaceReaderMidRead(t *testing.T) {
	for _, at := range []hookPoint{hookReadLeaf, hookReadItem, hookReadValue} {
		for _, look := range lookups {
			t.Run(look.name, func(t *testing.T) {
				tr, l := inPlaceTree(t)
				a := l.startAt(2)
				addr := l.startAt(4) + 1 // its slot shifts when a+8 is inserted
				want, _ := tr.Find(addr)
				ins := it(a+8, a+12)
				tries := 0
				var hk func(p hookPoint)
				hk = func(p hookPoint) {
					if p != at {
						return
					}
					if tries++; tries == 1 {
						tr.hooks = nil
						commitReplace(t, tr, ins.Start, ins.End, []Item[int]{ins})
						if tr.leafOf(addr) != l {
							t.Error("the write was not done in place")
						}
						tr.hooks = &hooks{at: hk}
					}
				}
				tr.hooks = &hooks{at: hk}
				val, ok := look.find(tr, addr)
				tr.hooks = nil
				wantVal := want.Val
				if !ok || val != wantVal {
					t.Fatalf("hook %d: %s(%#x) = %v %v, want %v", at, look.name, addr, val, ok, wantVal)
				}
				// Stopped before it read the leaf's seq, the reader may see
				// the new leaf whole (its parent did not change); anywhere
				// later it must retry.
				if tries < 2 && at != hookReadLeaf {
					t.Fatalf("hook %d: the reader did not retry (%d tries)", at, tries)
				}
			})
		}
	}
}

// TestInPlaceStaleParent stops First after it chose a leaf by its parent's
// summary and before it read the leaf's seq; an in-place write then deletes
// the leaf's last item, which changes the parent's summary of the leaf. The
// reader must retry: the parent went odd before the leaf changed and came
// back with another seq. Without that (the parent left alone while its
// summary is rewritten), the reader trusts the old summary, finds nothing
// in the new leaf with End > key, and returns "none", which no version
// ever held.
func TestInPlaceStaleParent(t *testing.T) {
	tr, l := inPlaceTree(t)
	key := l.startAt(l.count() - 1) // First(key) is this item, then the next leaf's first
	next := tr.loadRoot().top.leaves[3].Load().startAt(0)
	tries := 0
	var hk func(p hookPoint)
	hk = func(p hookPoint) {
		if p != hookReadLeaf {
			return
		}
		if tries++; tries == 1 {
			tr.hooks = nil
			commitReplace(t, tr, key, key+16, nil)
			if tr.leafOf(key-16) != l {
				t.Error("the delete was not done in place")
			}
			tr.hooks = &hooks{at: hk}
		}
	}
	tr.hooks = &hooks{at: hk}
	got, ok := tr.First(key)
	tr.hooks = nil
	if !ok || got.Start != next {
		t.Fatalf("First(%#x) = %v %v, want the item at %#x", key, got, ok, next)
	}
	if tries < 2 {
		t.Fatalf("the reader did not retry (%d tries)", tries)
	}
}

// TestInPlacePinnedSnapshot takes a Snapshot before a Commit that would
// write in place: the Commit must see the pin and copy, so the Snapshot
// still shows the old version after it. Without the writer's read of pins
// the leaf is changed under the Snapshot.
func TestInPlacePinnedSnapshot(t *testing.T) {
	tr, l := inPlaceTree(t)
	victim := l.startAt(3)
	s := tr.Snapshot()
	x := tr.Txn()
	if err := x.Replace(victim, victim+16, nil); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	if got, ok := s.Find(victim); !ok || got.Start != victim {
		t.Fatalf("pinned Snapshot.Find(%#x) = %v %v after the commit: the write reached it", victim, got, ok)
	}
	if tr.leafOf(victim+16) == l {
		t.Fatal("the commit wrote in place a leaf a pinned Snapshot reaches")
	}
	s.Release()
	if _, ok := tr.Find(victim); ok {
		t.Fatal("the delete was lost")
	}
	checkAll(t, tr)
}

// TestInPlaceTxnView checks that a deferred write is in the Txn's own view
// before Commit, and that Abort leaves the published tree as it was.
func TestInPlaceTxnView(t *testing.T) {
	tr, l := inPlaceTree(t)
	victim := l.startAt(3)
	x := tr.Txn()
	if err := x.Replace(victim, victim+16, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Find(victim); !ok {
		t.Fatal("a pending write is visible before Commit")
	}
	x.Abort()
	if _, ok := tr.Find(victim); !ok {
		t.Fatal("Abort left the write behind")
	}
	x = tr.Txn()
	if err := x.Replace(victim, victim+16, nil); err != nil {
		t.Fatal(err)
	}
	v := x.Snapshot()
	if _, ok := v.Find(victim); ok {
		t.Fatal("the Txn's own view misses its pending write")
	}
	if v.Len() != 198 {
		t.Fatalf("the Txn's view holds %d items, want 198", v.Len())
	}
	x.Commit()
	if _, ok := tr.Find(victim); ok || tr.Len() != 198 {
		t.Fatal("the committed write was lost")
	}
	checkAll(t, tr)
}

// checkAll runs the tree's invariant check on the published version.
func checkAll(t *testing.T, tr *Tree[int, intCell, *intCell]) {
	t.Helper()
	s := tr.Snapshot()
	defer s.Release()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}
