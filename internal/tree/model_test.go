package tree

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// model is the obviously-correct reference: a sorted slice searched linearly.
type model []Item[int]

// The model's searches are binary searches over the sorted slice; each one is
// a one-liner that is easy to check by eye.

func (m model) find(addr uint64) (Item[int], bool) {
	if i := sort.Search(len(m), func(i int) bool { return m[i].End > addr }); i < len(m) && m[i].Start <= addr {
		return m[i], true
	}
	return Item[int]{}, false
}

func (m model) first(from uint64) (Item[int], bool) {
	if i := sort.Search(len(m), func(i int) bool { return m[i].End > from }); i < len(m) {
		return m[i], true
	}
	return Item[int]{}, false
}

func (m model) last(before uint64) (Item[int], bool) {
	if i := sort.Search(len(m), func(i int) bool { return m[i].Start >= before }); i > 0 {
		return m[i-1], true
	}
	return Item[int]{}, false
}

func (m model) ascend(from uint64) []Item[int] {
	return m[sort.Search(len(m), func(i int) bool { return m[i].End > from }):]
}

// descend returns up to limit (0: all) items with Start < before, highest first.
func (m model) descend(before uint64, limit int) []Item[int] {
	var out []Item[int]
	for i := sort.Search(len(m), func(i int) bool { return m[i].Start >= before }) - 1; i >= 0; i-- {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, m[i])
	}
	return out
}

// replace returns a new model: the old one may be a committed state the test
// still compares against.
func (m model) replace(lo, hi uint64, items []Item[int]) model {
	i := sort.Search(len(m), func(i int) bool { return m[i].Start >= lo })
	j := sort.Search(len(m), func(i int) bool { return m[i].Start >= hi })
	out := make(model, 0, len(m)-(j-i)+len(items))
	return append(append(append(out, m[:i]...), items...), m[j:]...)
}

func (m model) set(start uint64, v int) model {
	out := slices.Clone(m)
	for i := range out {
		if out[i].Start == start {
			out[i].Val = v
		}
	}
	return out
}

// gap returns the i-th free range between items, for i in [0, len(m)]: gap 0
// ends at the first item, gap len(m) follows the last. 0 and MaxUint64 stand for
// the ends of the address space; a gap can be empty.
func (m model) gap(i int) (a, b uint64) {
	a, b = 0, math.MaxUint64
	if i > 0 {
		a = m[i-1].End
	}
	if i < len(m) {
		b = m[i].Start
	}
	return a, b
}

func (m model) highestGap(lo, hi, length uint64) (uint64, bool) {
	for i := len(m); i >= 0 && length > 0; i-- {
		a, b := m.gap(i)
		a, b = max(a, lo), min(b, hi)
		if a < b && b-a >= length {
			return b, true
		}
	}
	return 0, false
}

func (m model) lowestGap(lo, hi, length uint64) (uint64, bool) {
	for i := 0; i <= len(m) && length > 0; i++ {
		a, b := m.gap(i)
		a, b = max(a, lo), min(b, hi)
		if a < b && b-a >= length {
			return a, true
		}
	}
	return 0, false
}

// snap moves addr out of the inside of an item to one of its ends, so that it
// can be a Replace bound (Replace requires that no item straddles its bounds).
func (m model) snap(addr uint64, rng *rand.Rand) uint64 {
	if it, ok := m.find(addr); ok && it.Start != addr {
		if rng.IntN(2) == 0 {
			return it.Start
		}
		return it.End
	}
	return addr
}

func collect[V any, C comparable, P Cell[C, V]](s Snapshot[V, C, P], asc bool, key uint64, limit int) []Item[V] {
	n := s.Len()
	if limit > 0 {
		n = min(n, limit)
	}
	out := make([]Item[V], 0, n)
	fn := func(it Item[V]) bool {
		out = append(out, it)
		return limit <= 0 || len(out) < limit
	}
	if asc {
		s.Ascend(key, fn)
	} else {
		s.Descend(key, fn)
	}
	return out
}

// prefix returns the first limit items, or all of them when limit is 0 (what
// collect gathers when fn stops after limit calls).
func prefix(items []Item[int], limit int) []Item[int] {
	if limit > 0 && len(items) > limit {
		return items[:limit]
	}
	return items
}

// compare checks every read operation of s against m: the full contents, and
// probes at random addresses and at item boundaries, where off-by-one errors
// live. space bounds the addresses the test uses.
func compare(s Snapshot[int, intCell, *intCell], m model, rng *rand.Rand, space uint64, probes int) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if got := collect(s, true, 0, 0); !slices.Equal(got, []Item[int](m)) {
		return fmt.Errorf("Ascend(0) = %v\nmodel       %v", got, m)
	}
	return probe(s, m, rng, space, probes)
}

// probe is compare without the full walks, for big trees.
func probe(s Snapshot[int, intCell, *intCell], m model, rng *rand.Rand, space uint64, probes int) error {
	if s.Len() != len(m) {
		return fmt.Errorf("Len = %d, model has %d", s.Len(), len(m))
	}
	addr := func() uint64 {
		if len(m) > 0 && rng.IntN(2) == 0 {
			it := m[rng.IntN(len(m))]
			return []uint64{it.Start - 1, it.Start, it.End - 1, it.End, it.End + 1}[rng.IntN(5)]
		}
		return rng.Uint64N(space + 2)
	}
	for range probes {
		a := addr()
		if got, ok := s.Find(a); true {
			want, wok := m.find(a)
			if ok != wok || got != want {
				return fmt.Errorf("Find(%#x) = %v %v, want %v %v", a, got, ok, want, wok)
			}
		}
		if got, ok := s.First(a); true {
			want, wok := m.first(a)
			if ok != wok || got != want {
				return fmt.Errorf("First(%#x) = %v %v, want %v %v", a, got, ok, want, wok)
			}
		}
		if got, ok := s.Last(a); true {
			want, wok := m.last(a)
			if ok != wok || got != want {
				return fmt.Errorf("Last(%#x) = %v %v, want %v %v", a, got, ok, want, wok)
			}
		}
		limit := rng.IntN(5)
		if limit == 0 && len(m) > 2000 {
			limit = 100 // full walks of big trees would dominate the test's time
		}
		if got, want := collect(s, true, a, limit), prefix(m.ascend(a), limit); !slices.Equal(got, want) {
			return fmt.Errorf("Ascend(%#x) limit %d = %v, model %v", a, limit, got, want)
		}
		if got, want := collect(s, false, a, limit), m.descend(a, limit); !slices.Equal(got, want) {
			return fmt.Errorf("Descend(%#x) limit %d = %v, model %v", a, limit, got, want)
		}
		lo, hi := addr(), addr()
		if lo > hi {
			lo, hi = hi, lo
		}
		if rng.IntN(8) == 0 {
			lo, hi = 0, math.MaxUint64
		}
		length := 1 + rng.Uint64N(1+[]uint64{4, 64, space / 8}[rng.IntN(3)])
		if got, ok := s.HighestGap(lo, hi, length); true {
			want, wok := m.highestGap(lo, hi, length)
			if ok != wok || got != want {
				return fmt.Errorf("HighestGap(%#x, %#x, %#x) = %#x %v, want %#x %v", lo, hi, length, got, ok, want, wok)
			}
		}
		if got, ok := s.LowestGap(lo, hi, length); true {
			want, wok := m.lowestGap(lo, hi, length)
			if ok != wok || got != want {
				return fmt.Errorf("LowestGap(%#x, %#x, %#x) = %#x %v, want %#x %v", lo, hi, length, got, ok, want, wok)
			}
		}
	}
	return nil
}

// randomItems returns up to k sorted, non-overlapping items inside [lo, hi).
func randomItems(rng *rand.Rand, lo, hi uint64, k int, val *int) []Item[int] {
	if hi <= lo || k == 0 {
		return nil
	}
	pts := make([]uint64, 0, 2*k)
	for range 2 * k {
		pts = append(pts, lo+rng.Uint64N(hi-lo+1))
	}
	slices.Sort(pts)
	pts = slices.Compact(pts)
	var out []Item[int]
	for i := 0; i+1 < len(pts); i += 2 {
		*val++
		out = append(out, Item[int]{pts[i], pts[i+1], *val})
	}
	return out
}

// op is one randomly chosen write, already applied to a model.
type op struct {
	name   string
	set    bool
	lo, hi uint64
	items  []Item[int]
	val    int
}

func (o op) apply(x *Txn[int, intCell, *intCell]) error {
	if o.set {
		return x.Set(o.lo, o.val)
	}
	return x.Replace(o.lo, o.hi, o.items)
}

func (o op) String() string {
	if o.set {
		return fmt.Sprintf("Set(%#x, %d)", o.lo, o.val)
	}
	return fmt.Sprintf("%s: Replace(%#x, %#x, %v)", o.name, o.lo, o.hi, o.items)
}

// randomOp picks a valid write for a tree holding m, steering the size towards
// target so that trees both grow tall and shrink back to empty.
func randomOp(rng *rand.Rand, m model, space uint64, target int, val *int) (op, model) {
	// Weights per kind: insert, replace, delete one, delete run, split, merge, set.
	weights := []int{6, 4, 1, 0, 2, 1, 1}
	if len(m) > target {
		weights = []int{1, 2, 3, 2, 1, 3, 1}
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	for {
		k, r := 0, rng.IntN(total)
		for r >= weights[k] {
			r -= weights[k]
			k++
		}
		switch {
		case k == 0: // insert one item into free space, as mmap does
			a := rng.Uint64N(space)
			if _, ok := m.find(a); ok {
				continue
			}
			lo := uint64(0)
			if it, ok := m.last(a); ok {
				lo = it.End
			}
			hi := space
			if it, ok := m.first(a); ok {
				hi = it.Start
			}
			if hi <= lo {
				continue
			}
			s := lo + rng.Uint64N(hi-lo)
			e := s + 1 + rng.Uint64N(min(hi-s, 64))
			*val++
			it := []Item[int]{{s, e, *val}}
			return op{name: "insert", lo: s, hi: e, items: it}, m.replace(s, e, it)
		case k == 1: // replace a range with several items
			lo := m.snap(rng.Uint64N(space), rng)
			width := []uint64{16, 256, space / 1024, space / 256}[rng.IntN(4)]
			if len(m) > target {
				width = space / 16
			}
			hi := m.snap(lo+rng.Uint64N(1+width), rng)
			if hi < lo {
				continue
			}
			n := rng.IntN(4)
			if rng.IntN(3) == 0 {
				n = rng.IntN(3 * leafMax)
			}
			if len(m) > target {
				n = rng.IntN(2)
			}
			items := randomItems(rng, lo, hi, n, val)
			return op{name: "replace", lo: lo, hi: hi, items: items}, m.replace(lo, hi, items)
		case k == 2 && len(m) > 0: // delete one item, as munmap of a whole area does
			it := m[rng.IntN(len(m))]
			return op{name: "delete", lo: it.Start, hi: it.End}, m.replace(it.Start, it.End, nil)
		case k == 3 && len(m) > 0: // delete a run
			lo := m[rng.IntN(len(m))].Start
			hi := m.snap(lo+rng.Uint64N(space/32), rng)
			return op{name: "delete run", lo: lo, hi: hi}, m.replace(lo, hi, nil)
		case k == 4 && len(m) > 0: // split an item in two, as mprotect of part of an area does
			it := m[rng.IntN(len(m))]
			if it.End-it.Start < 2 {
				continue
			}
			p := it.Start + 1 + rng.Uint64N(it.End-it.Start-1)
			*val++
			items := []Item[int]{{it.Start, p, it.Val}, {p, it.End, *val}}
			return op{name: "split", lo: it.Start, hi: it.End, items: items}, m.replace(it.Start, it.End, items)
		case k == 5 && len(m) > 1: // merge a run of neighbours into one item
			i := rng.IntN(len(m) - 1)
			j := i + 1 + rng.IntN(min(3, len(m)-i-1))
			*val++
			items := []Item[int]{{m[i].Start, m[j].End, *val}}
			return op{name: "merge", lo: m[i].Start, hi: m[j].End, items: items}, m.replace(m[i].Start, m[j].End, items)
		case k == 6 && len(m) > 0:
			it := m[rng.IntN(len(m))]
			*val++
			return op{name: "set", set: true, lo: it.Start, val: *val}, m.set(it.Start, *val)
		case len(m) == 0:
			weights[0]++ // only inserts can make progress on an empty tree
		}
	}
}

// TestRandomAgainstModel runs random writes in random transactions, checking
// the Txn's view against the model after every write and the published view
// after every commit or abort.
func TestRandomAgainstModel(t *testing.T) {
	seeds, steps, target := 4, 3000, 2000
	if testing.Short() || raceEnabled {
		seeds, steps = 2, 1600
	}
	if raceEnabled {
		// Single-threaded: the detector has nothing to find here, and every
		// node access is an atomic it instruments.
		steps = 700
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 42))
			var tr Tree[int, intCell, *intCell]
			var committed, working model
			var x *Txn[int, intCell, *intCell]
			var val int
			const space = 1 << 20
			type kept struct {
				s Snapshot[int, intCell, *intCell]
				m model
			}
			var old []kept
			for step := range steps {
				if x == nil {
					x = tr.Txn()
				}
				// Swing the target so that trees also shrink back towards empty.
				tgt := target
				if (step/800)%2 == 1 {
					tgt = 0
				}
				o, next := randomOp(rng, working, space, tgt, &val)
				if err := o.apply(x); err != nil {
					t.Fatalf("step %d %v: %v", step, o, err)
				}
				working = next
				if err := compare(x.Snapshot(), working, rng, space, 4); err != nil {
					t.Fatalf("step %d after %v: %v", step, o, err)
				}
				switch rng.IntN(6) {
				case 0:
					x.Abort()
					x, working = nil, committed
				case 1, 2:
					x.Commit()
					x, committed = nil, working
				default:
					continue // more writes in the same Txn
				}
				if err := compare(tr.Snapshot(), committed, rng, space, 2); err != nil {
					t.Fatalf("step %d published: %v", step, err)
				}
				if rng.IntN(50) == 0 {
					old = append(old, kept{tr.Snapshot(), committed})
				}
			}
			// Snapshots taken long ago must still show exactly what they showed.
			for _, k := range old {
				if err := compare(k.s, k.m, rng, space, 8); err != nil {
					t.Fatalf("old snapshot changed: %v", err)
				}
			}
		})
	}
}

// TestDeepRandom runs random writes on a tree three levels deep, as it shrinks
// back to empty, so that merges and height changes happen at every level.
func TestDeepRandom(t *testing.T) {
	n, steps := 60000, 500
	if testing.Short() || raceEnabled {
		n, steps = 30000, 250
	}
	const space = 1 << 20
	rng := rand.New(rand.NewPCG(5, 5))
	m := make(model, 0, n)
	for i := range n {
		s := uint64(i) * 16
		m = append(m, Item[int]{s, s + 1 + rng.Uint64N(12), i})
	}
	tr := build(t, m...)
	val := n
	heights := map[int]bool{}
	for step := range steps {
		x := tr.Txn()
		target := n + n/10
		if step > steps/4 {
			target = 0
		}
		for range 1 + rng.IntN(3) {
			o, next := randomOp(rng, m, space, target, &val)
			if err := o.apply(x); err != nil {
				t.Fatal(err)
			}
			m = next
		}
		x.Commit()
		s := tr.Snapshot()
		h := s.r.height
		s.Release()
		check := probe
		if !heights[h] || step%25 == 0 {
			check = compare
		}
		heights[h] = true
		if err := check(s, m, rng, space, 8); err != nil {
			t.Fatalf("step %d (height %d, %d items): %v", step, h, len(m), err)
		}
	}
	t.Logf("heights seen: %v", heights)
	if !heights[3] || !heights[1] {
		t.Fatalf("the heights seen were %v", heights)
	}
}
