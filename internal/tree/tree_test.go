package tree

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// it is shorthand for an item whose value is its start, which makes expected
// results in tables easy to read.
func it(s, e uint64) Item[int] { return Item[int]{s, e, int(s)} }

// build returns a tree holding items, inserted in one Replace.
func build(t testing.TB, items ...Item[int]) *Tree[int, intCell, *intCell] {
	t.Helper()
	var tr Tree[int, intCell, *intCell]
	x := tr.Txn()
	if err := x.Replace(0, math.MaxUint64, items); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	s := tr.Snapshot()
	defer s.Release()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return &tr
}

func TestEmpty(t *testing.T) {
	var tr Tree[int, intCell, *intCell]
	for _, s := range []Snapshot[int, intCell, *intCell]{{}, tr.Snapshot(), tr.Txn().Snapshot()} {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if s.Len() != 0 {
			t.Fatalf("Len = %d", s.Len())
		}
		if _, ok := s.Find(0); ok {
			t.Fatal("Find found something")
		}
		if _, ok := s.First(0); ok {
			t.Fatal("First found something")
		}
		if _, ok := s.Last(math.MaxUint64); ok {
			t.Fatal("Last found something")
		}
		if got := collect(s, true, 0, 0); len(got) != 0 {
			t.Fatalf("Ascend = %v", got)
		}
		if got := collect(s, false, math.MaxUint64, 0); len(got) != 0 {
			t.Fatalf("Descend = %v", got)
		}
		if e, ok := s.HighestGap(10, 100, 90); !ok || e != 100 {
			t.Fatalf("HighestGap = %d %v", e, ok)
		}
		if a, ok := s.LowestGap(10, 100, 90); !ok || a != 10 {
			t.Fatalf("LowestGap = %d %v", a, ok)
		}
		if _, ok := s.LowestGap(10, 100, 91); ok {
			t.Fatal("LowestGap fitted 91 bytes into 90")
		}
	}
}

func TestFind(t *testing.T) {
	tr := build(t, it(10, 20), it(20, 30), it(40, 50))
	s := tr.Snapshot()
	for _, c := range []struct {
		addr  uint64
		start uint64 // 0: not found
	}{
		{0, 0}, {9, 0}, {10, 10}, {19, 10}, {20, 20}, {29, 20}, {30, 0},
		{39, 0}, {40, 40}, {49, 40}, {50, 0}, {math.MaxUint64, 0},
	} {
		got, ok := s.Find(c.addr)
		if ok != (c.start != 0) || ok && got.Start != c.start {
			t.Errorf("Find(%d) = %v %v, want start %d", c.addr, got, ok, c.start)
		}
	}
}

func TestFirstLast(t *testing.T) {
	tr := build(t, it(10, 20), it(20, 30), it(40, 50))
	s := tr.Snapshot()
	for _, c := range []struct {
		key         uint64
		first, last uint64 // 0: none
	}{
		{0, 10, 0}, {10, 10, 0}, {11, 10, 10}, {19, 10, 10}, {20, 20, 10},
		{21, 20, 20}, {30, 40, 20}, {35, 40, 20}, {40, 40, 20}, {41, 40, 40},
		{49, 40, 40}, {50, 0, 40}, {math.MaxUint64, 0, 40},
	} {
		f, ok := s.First(c.key)
		if ok != (c.first != 0) || ok && f.Start != c.first {
			t.Errorf("First(%d) = %v %v, want start %d", c.key, f, ok, c.first)
		}
		l, ok := s.Last(c.key)
		if ok != (c.last != 0) || ok && l.Start != c.last {
			t.Errorf("Last(%d) = %v %v, want start %d", c.key, l, ok, c.last)
		}
	}
}

func TestAscendDescend(t *testing.T) {
	tr := build(t, it(10, 20), it(20, 30), it(40, 50))
	s := tr.Snapshot()
	starts := func(items []Item[int]) []uint64 {
		var out []uint64
		for _, i := range items {
			out = append(out, i.Start)
		}
		return out
	}
	for _, c := range []struct {
		asc   bool
		key   uint64
		limit int
		want  []uint64
	}{
		{true, 0, 0, []uint64{10, 20, 40}},
		{true, 19, 0, []uint64{10, 20, 40}},
		{true, 20, 0, []uint64{20, 40}},
		{true, 20, 1, []uint64{20}},
		{true, 50, 0, nil},
		{false, math.MaxUint64, 0, []uint64{40, 20, 10}},
		{false, 40, 0, []uint64{20, 10}},
		{false, 41, 2, []uint64{40, 20}},
		{false, 10, 0, nil},
	} {
		if got := starts(collect(s, c.asc, c.key, c.limit)); !slices.Equal(got, c.want) {
			t.Errorf("asc=%v key=%d limit=%d: got %v, want %v", c.asc, c.key, c.limit, got, c.want)
		}
	}
}

func TestGaps(t *testing.T) {
	// Free: [0,10) [20,30) [35,50) [60,inf)
	tr := build(t, it(10, 20), it(30, 35), it(50, 60))
	s := tr.Snapshot()
	for _, c := range []struct {
		lo, hi, length uint64
		high, low      uint64
		ok             bool
	}{
		{0, 100, 5, 100, 0, true},
		{0, 60, 5, 50, 0, true},
		{0, 60, 15, 50, 35, true},
		{0, 60, 16, 0, 0, false},
		{0, 45, 10, 45, 0, true},   // [35,50) clipped to [35,45)
		{0, 44, 10, 30, 0, true},   // [35,44) is too small now
		{22, 28, 6, 28, 22, true},  // inside one gap
		{22, 28, 7, 0, 0, false},   // wider than the window
		{12, 18, 1, 0, 0, false},   // inside an item
		{5, 100, 6, 100, 20, true}, // [5,10) is too small after clipping
		{60, 61, 1, 61, 60, true},
		{0, math.MaxUint64, 1 << 40, math.MaxUint64, 60, true},
		{0, 100, 0, 0, 0, false}, // zero length never matches
		{50, 50, 1, 0, 0, false}, // empty window
		{60, 50, 1, 0, 0, false}, // inverted window
	} {
		e, ok := s.HighestGap(c.lo, c.hi, c.length)
		if ok != c.ok || e != c.high {
			t.Errorf("HighestGap(%d, %d, %d) = %d %v, want %d %v", c.lo, c.hi, c.length, e, ok, c.high, c.ok)
		}
		a, ok := s.LowestGap(c.lo, c.hi, c.length)
		if ok != c.ok || a != c.low {
			t.Errorf("LowestGap(%d, %d, %d) = %d %v, want %d %v", c.lo, c.hi, c.length, a, ok, c.low, c.ok)
		}
	}
}

// TestGapsDeep checks the gap search where it leans on the summaries: a tree
// several levels deep with one big gap placed at each position in turn.
func TestGapsDeep(t *testing.T) {
	const n = 5000
	items := make([]Item[int], n)
	for i := range items {
		items[i] = it(uint64(i)*10, uint64(i)*10+9) // gaps of 1
	}
	tr := build(t, items...)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		i := 1 + rng.IntN(n-2)
		x := tr.Txn()
		if err := x.Replace(items[i].Start, items[i].End, nil); err != nil {
			t.Fatal(err)
		}
		s := x.Snapshot()
		m := model(slices.Delete(slices.Clone(items), i, i+1))
		if err := compare(s, m, rng, n*10, 20); err != nil {
			t.Fatal(err)
		}
		hole := uint64(i) * 10
		// The hole is [hole-1, hole+10): 11 bytes, the only gap above 1.
		if e, ok := s.HighestGap(0, n*10, 11); !ok || e != hole+10 {
			t.Fatalf("HighestGap = %d %v, want %d", e, ok, hole+10)
		}
		if a, ok := s.LowestGap(0, n*10, 11); !ok || a != hole-1 {
			t.Fatalf("LowestGap = %d %v, want %d", a, ok, hole-1)
		}
		if _, ok := s.HighestGap(0, hole+9, 11); ok {
			t.Fatal("HighestGap found a clipped hole")
		}
		x.Abort()
	}
}

func TestReplace(t *testing.T) {
	type rep struct {
		lo, hi uint64
		items  []Item[int]
	}
	for _, c := range []struct {
		name string
		ops  []rep
		want []Item[int]
	}{
		{"insert", []rep{{10, 20, []Item[int]{it(10, 20)}}}, []Item[int]{it(10, 20)}},
		{"insert several", []rep{{0, 100, []Item[int]{it(10, 20), it(20, 30), it(50, 60)}}},
			[]Item[int]{it(10, 20), it(20, 30), it(50, 60)}},
		{"delete", []rep{{0, 100, []Item[int]{it(10, 20), it(50, 60)}}, {10, 20, nil}},
			[]Item[int]{it(50, 60)}},
		{"delete range with nothing in it", []rep{{0, 100, []Item[int]{it(10, 20)}}, {20, 90, nil}},
			[]Item[int]{it(10, 20)}},
		{"split", []rep{{10, 30, []Item[int]{it(10, 30)}}, {10, 30, []Item[int]{it(10, 15), it(15, 25), it(25, 30)}}},
			[]Item[int]{it(10, 15), it(15, 25), it(25, 30)}},
		{"merge", []rep{{0, 100, []Item[int]{it(10, 15), it(15, 25), it(25, 30)}}, {10, 30, []Item[int]{it(10, 30)}}},
			[]Item[int]{it(10, 30)}},
		{"replace keeps neighbours", []rep{{0, 100, []Item[int]{it(0, 10), it(10, 20), it(20, 30)}}, {10, 20, []Item[int]{it(12, 18)}}},
			[]Item[int]{it(0, 10), it(12, 18), it(20, 30)}},
		{"empty range", []rep{{0, 100, []Item[int]{it(10, 20)}}, {15, 15, nil}, {25, 25, nil}},
			[]Item[int]{it(10, 20)}},
		{"clear all", []rep{{0, 100, []Item[int]{it(10, 20), it(30, 40)}}, {0, math.MaxUint64, nil}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tr Tree[int, intCell, *intCell]
			for _, o := range c.ops {
				x := tr.Txn()
				if err := x.Replace(o.lo, o.hi, o.items); err != nil {
					t.Fatal(err)
				}
				x.Commit()
			}
			if err := compare(tr.Snapshot(), c.want, rand.New(rand.NewPCG(0, 0)), 100, 50); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestContractViolationsPanic(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func(x *Txn[int, intCell, *intCell])
		msg  string
	}{
		{"straddles lo", func(x *Txn[int, intCell, *intCell]) { x.Replace(15, 40, nil) }, "straddles 0xf"},
		{"straddles hi", func(x *Txn[int, intCell, *intCell]) { x.Replace(5, 15, nil) }, "straddles 0xf"},
		{"straddles both", func(x *Txn[int, intCell, *intCell]) { x.Replace(12, 18, []Item[int]{it(12, 18)}) }, "straddles"},
		{"unsorted", func(x *Txn[int, intCell, *intCell]) { x.Replace(30, 60, []Item[int]{it(40, 50), it(30, 35)}) }, "out of order"},
		{"overlapping", func(x *Txn[int, intCell, *intCell]) { x.Replace(30, 60, []Item[int]{it(30, 45), it(40, 50)}) }, "overlapping"},
		{"empty item", func(x *Txn[int, intCell, *intCell]) { x.Replace(30, 60, []Item[int]{it(40, 40)}) }, "empty"},
		{"outside", func(x *Txn[int, intCell, *intCell]) { x.Replace(30, 60, []Item[int]{it(50, 70)}) }, "outside"},
		{"inverted", func(x *Txn[int, intCell, *intCell]) { x.Replace(60, 30, nil) }, "inverted"},
		{"set missing", func(x *Txn[int, intCell, *intCell]) { x.Set(11, 0) }, "no item starts at 0xb"},
		{"set on empty", func(x *Txn[int, intCell, *intCell]) {
			x.Replace(0, 100, nil)
			x.Set(10, 0)
		}, "no item starts"},
		{"write after commit", func(x *Txn[int, intCell, *intCell]) {
			x.Commit()
			x.Replace(30, 40, nil)
		}, "finished Txn"},
		{"commit twice", func(x *Txn[int, intCell, *intCell]) {
			x.Commit()
			x.Commit()
		}, "finished Txn"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := build(t, it(10, 20))
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(fmt.Sprint(r), c.msg) {
					t.Fatalf("panic %q, want one containing %q", r, c.msg)
				}
			}()
			c.fn(tr.Txn())
		})
	}
}

func TestSet(t *testing.T) {
	tr := build(t, it(10, 20), it(20, 30))
	before := tr.Snapshot()
	x := tr.Txn()
	if err := x.Set(20, 7); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.Snapshot().Find(25); got.Val != 7 {
		t.Fatalf("Txn view after Set: %v", got)
	}
	if got, _ := tr.Snapshot().Find(25); got.Val != 20 {
		t.Fatalf("Set visible before Commit: %v", got)
	}
	x.Commit()
	if got, _ := tr.Snapshot().Find(25); got.Val != 7 {
		t.Fatalf("after Commit: %v", got)
	}
	if got, _ := before.Find(25); got.Val != 20 {
		t.Fatalf("old snapshot changed: %v", got)
	}
}

func TestTxnIsolation(t *testing.T) {
	tr := build(t, it(10, 20))
	x := tr.Txn()
	if err := x.Replace(30, 40, []Item[int]{it(30, 40)}); err != nil {
		t.Fatal(err)
	}
	if tr.Snapshot().Len() != 1 || x.Snapshot().Len() != 2 {
		t.Fatalf("published %d, txn %d items", tr.Snapshot().Len(), x.Snapshot().Len())
	}
	x.Abort()
	x.Abort() // harmless
	if tr.Snapshot().Len() != 1 {
		t.Fatal("Abort published something")
	}

	// A Txn that writes nothing publishes nothing.
	before := tr.Snapshot()
	tr.Txn().Commit()
	if tr.Snapshot() != before {
		t.Fatal("empty Commit published a new root")
	}

	// Two Txns open at once is the caller's bug; the second Txn catches it.
	a := tr.Txn()
	a.Replace(30, 40, []Item[int]{it(30, 40)})
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "another Txn") {
			t.Fatalf("panic %v", r)
		}
	}()
	tr.Txn()
}

// treeStats walks a snapshot and counts nodes, for the fill tests.
type treeStats struct{ leaves, inners, items int }

func stats[V any, C comparable, P Cell[C, V]](s Snapshot[V, C, P]) treeStats {
	var st treeStats
	var walk func(n *inner[V, C, P], h int)
	walk = func(n *inner[V, C, P], h int) {
		st.inners++
		for i := 0; i < n.count(); i++ {
			if h == 1 {
				st.leaves++
				st.items += n.leaves[i].Load().count()
			} else {
				walk(n.kids[i].Load(), h-1)
			}
		}
	}
	switch r := s.root(); {
	case r.height == 0 && r.leaf == nil:
	case r.height == 0:
		st.leaves, st.items = 1, r.leaf.count()
	default:
		walk(r.top, r.height)
	}
	return st
}

func (st treeStats) fill() float64 { return float64(st.items) / float64(st.leaves*leafMax) }

// TestFill checks that one-at-a-time insertion, each in its own Txn as mmap
// does, keeps leaves full in the orders that matter: ascending, descending
// (top-down mmap placement) and descending into the middle of the space below
// a few fixed areas. Random order is the B-tree's usual ~70-80%.
func TestFill(t *testing.T) {
	n := 20000
	if raceEnabled || testing.Short() {
		n = 5000
	}
	for _, c := range []struct {
		name string
		addr func(i int) uint64
		min  float64
	}{
		{"ascending", func(i int) uint64 { return uint64(i) * 2 }, 0.95},
		{"descending", func(i int) uint64 { return uint64(n-i) * 2 }, 0.95},
		{"descending mid", func(i int) uint64 { return 1<<30 + uint64(n-i)*2 }, 0.95},
		{"random", func(i int) uint64 { return uint64(rand.N(1<<40)) * 2 }, 0.65},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A few items at the low and high ends, as a program's text and stack.
			tr := build(t, it(0, 1), it(1<<50, 1<<50+1))
			for i := range n {
				a := c.addr(i)
				x := tr.Txn()
				if _, ok := x.Snapshot().Find(a); ok {
					continue
				}
				if err := x.Replace(a, a+1, []Item[int]{it(a, a+1)}); err != nil {
					t.Fatal(err)
				}
				x.Commit()
			}
			s := tr.Snapshot()
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			st := stats(s)
			t.Logf("%d items in %d leaves and %d internal nodes: leaf fill %.3f", st.items, st.leaves, st.inners, st.fill())
			if st.fill() < c.min {
				t.Errorf("leaf fill %.3f below %.2f", st.fill(), c.min)
			}
		})
	}
}

// TestBulk inserts and removes many items with single Replace calls, which
// loop over many leaves.
func TestBulk(t *testing.T) {
	n := 100000
	if raceEnabled || testing.Short() {
		n = 20000
	}
	items := make([]Item[int], n)
	for i := range items {
		items[i] = it(uint64(i)*3, uint64(i)*3+2)
	}
	tr := build(t, items...)
	s := tr.Snapshot()
	if s.Len() != n {
		t.Fatalf("Len = %d", s.Len())
	}
	st := stats(s)
	t.Logf("height %d, leaf fill %.3f", s.r.height, st.fill())
	// Remove the middle half in one call, replacing it with a single item.
	lo, hi := items[n/4].Start, items[3*n/4].Start
	x := tr.Txn()
	if err := x.Replace(lo, hi, []Item[int]{it(lo, hi)}); err != nil {
		t.Fatal(err)
	}
	m := model(items).replace(lo, hi, []Item[int]{it(lo, hi)})
	if err := compare(x.Snapshot(), m, rand.New(rand.NewPCG(3, 4)), uint64(n)*3, 200); err != nil {
		t.Fatal(err)
	}
	if err := x.Replace(0, math.MaxUint64, nil); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	if s := tr.Snapshot(); s.Len() != 0 || s.r.leaf != nil || s.r.top != nil {
		t.Fatalf("not empty after clearing: %d items", s.Len())
	}
	if err := compare(s, items, rand.New(rand.NewPCG(3, 4)), uint64(n)*3, 200); err != nil {
		t.Fatalf("snapshot before the changes: %v", err)
	}
}
