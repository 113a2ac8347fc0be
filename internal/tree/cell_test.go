package tree

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// Cells (cell.go) for the tests' value types.

// intCell holds an int.
type intCell struct{ v atomic.Int64 }

func (c *intCell) Load() int { return int(c.v.Load()) }

func (c *intCell) Store(v int) {
	if c.v.Load() != int64(v) {
		c.v.Store(int64(v))
	}
}

// benchCell holds a benchVal.
type benchCell struct {
	p atomic.Pointer[int]
	x atomic.Uint64
}

func (c *benchCell) Load() benchVal { return benchVal{c.p.Load(), c.x.Load()} }

func (c *benchCell) Store(v benchVal) {
	if c.p.Load() != v.p {
		c.p.Store(v.p)
	}
	storeIfNew(&c.x, v.x)
}

// pair is a two-word value whose words must match (b == ^a): a reader that
// copied half of one value and half of another returns a pair that does not.
type pair struct{ a, b int64 }

func pairOf(s uint64) pair { return pair{int64(s), ^int64(s)} }

// pairCell holds a pair and lets a test stop a reader between its loads of
// the two words (pairMidLoad, set only while no other test runs a tree of
// pairs).
type pairCell struct{ a, b atomic.Int64 }

var pairMidLoad func()

func (c *pairCell) Load() pair {
	a := c.a.Load()
	if h := pairMidLoad; h != nil {
		h()
	}
	return pair{a, c.b.Load()}
}

func (c *pairCell) Store(v pair) {
	c.a.Store(v.a)
	c.b.Store(v.b)
}

type pairTree = Tree[pair, pairCell, *pairCell]

// spreadPairs is spread with pair values: items [16i, 16i+8) valued
// pairOf(16i).
func spreadPairs(t *testing.T, n int) *pairTree {
	t.Helper()
	items := make([]Item[pair], n)
	for i := range items {
		s := uint64(i) * 16
		items[i] = Item[pair]{s, s + 8, pairOf(s)}
	}
	var tr pairTree
	x := tr.Txn()
	if err := x.Replace(0, math.MaxUint64, items); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	return &tr
}

// pairLookups are the lockless lookups of a tree of pairs, as "the value
// covering addr".
var pairLookups = []struct {
	name string
	find func(tr *pairTree, addr uint64) (pair, bool)
}{
	{"Find", func(tr *pairTree, addr uint64) (pair, bool) {
		it, ok := tr.Find(addr)
		return it.Val, ok
	}},
	{"FindVal", func(tr *pairTree, addr uint64) (pair, bool) { return tr.FindVal(addr) }},
	{"First", func(tr *pairTree, addr uint64) (pair, bool) {
		it, ok := tr.First(addr)
		return it.Val, ok && it.Start <= addr
	}},
	{"Last", func(tr *pairTree, addr uint64) (pair, bool) {
		it, ok := tr.Last(addr + 1)
		return it.Val, ok && addr < it.End
	}},
}

// stopMidLoad arranges for fn to run, once, when a reader has loaded the
// first word of a cell and not the second; it returns a func that reports
// whether fn ran. fn runs with the hook removed, so that the writer's own
// loads (copying a leaf) do not stop.
func stopMidLoad(t *testing.T, fn func()) func() bool {
	fired := false
	pairMidLoad = func() {
		pairMidLoad = nil
		fired = true
		fn()
	}
	t.Cleanup(func() { pairMidLoad = nil })
	return func() bool { return fired }
}

// TestReaderMidValueLeafReused stops a lockless reader half way through
// copying a value out of its leaf; meanwhile that leaf is unlinked and
// refilled as another leaf, so the cell's second word now belongs to
// another item. The reader must throw the torn copy away (the leaf's seq
// changed) and answer with the whole value from the current version.
// Dropping the final re-check of the leaf's seq (find, findVal or edgeTry)
// fails it with a torn pair.
func TestReaderMidValueLeafReused(t *testing.T) {
	for _, look := range pairLookups {
		t.Run(look.name, func(t *testing.T) {
			tr := spreadPairs(t, 200)
			const addr, far = 20*16 + 1, 180 * 16
			fired := stopMidLoad(t, func() {
				reuseLeaf(t, tr, addr, far, pairOf(1000), pairOf(2000))
			})
			v, ok := look.find(tr, addr)
			if !fired() {
				t.Fatal("the reader never loaded a cell")
			}
			if want := pairOf(20 * 16); !ok || v != want {
				t.Fatalf("%s(%#x) = %v %v, want %v (torn: %v)", look.name, addr, v, ok, want, v.b != ^v.a)
			}
		})
	}
}

// TestReaderMidValueSet stops a lockless reader half way through copying a
// value while the writer commits a Set of that very item. The reader must
// return the old value or the new one, whole. Storing the Set into the
// published leaf instead of a private copy (a cell written while readers
// can reach it) fails it with a torn pair, as does a reader that does not
// re-check the leaf's seq if Set is stored in place even with the seq
// bumped around it.
func TestReaderMidValueSet(t *testing.T) {
	for _, look := range pairLookups {
		t.Run(look.name, func(t *testing.T) {
			tr := spreadPairs(t, 200)
			const start = 20 * 16
			fired := stopMidLoad(t, func() {
				x := tr.Txn()
				if err := x.Set(start, pairOf(7777)); err != nil {
					t.Fatal(err)
				}
				x.Commit()
			})
			v, ok := look.find(tr, start+1)
			if !fired() {
				t.Fatal("the reader never loaded a cell")
			}
			if !ok || v != pairOf(start) && v != pairOf(7777) {
				t.Fatalf("%s(%#x) = %v %v, want %v or %v", look.name, start+1, v, ok, pairOf(start), pairOf(7777))
			}
			if v, _ := look.find(tr, start+1); v != pairOf(7777) {
				t.Fatalf("after the commit %s(%#x) = %v, want %v", look.name, start+1, v, pairOf(7777))
			}
		})
	}
}

// TestSnapshotMidValueChurn stops a pinned Snapshot's reader half way
// through copying a value while the writer commits changes that unlink the
// reader's leaf and would refill it: a Snapshot does not validate, so its
// values must not be written until it is released. Letting a commit reuse
// what it unlinks while a Snapshot is pinned (retire ignoring pins) fails
// it with a torn pair.
func TestSnapshotMidValueChurn(t *testing.T) {
	tr := spreadPairs(t, 200)
	const addr = 20*16 + 1
	snap := tr.Snapshot()
	defer snap.Release()
	fired := stopMidLoad(t, func() {
		rng := rand.New(rand.NewPCG(5, 5))
		for range 50 {
			x := tr.Txn()
			s := uint64(rng.IntN(200)) * 16
			if err := x.Set(s, pairOf(s+1)); err != nil {
				t.Fatal(err)
			}
			x.Commit()
			// The first commit below unlinks the reader's leaf; the ones
			// after would refill it from the free list.
			x = tr.Txn()
			if err := x.Set(addr&^15+16, pairOf(3)); err != nil {
				t.Fatal(err)
			}
			x.Commit()
		}
	})
	it, ok := snap.Find(addr)
	if !fired() {
		t.Fatal("the reader never loaded a cell")
	}
	if want := pairOf(20 * 16); !ok || it.Val != want {
		t.Fatalf("pinned Find(%#x) = %v %v, want %v", addr, it.Val, ok, want)
	}
	if err := snap.Validate(); err != nil {
		t.Fatal(err)
	}
}
