package tree

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchVal has the shape of the project's tree value: a pointer to the area
// plus a word of flags (16 bytes, so an Item is 32).
type benchVal struct {
	p *int
	x uint64
}

const page = 4096

var shared int

// benchItem is the i-th item of a benchmark tree: one page, with a one-page
// hole above it where the Replace benchmark inserts.
func benchItem(i int) Item[benchVal] {
	s := uint64(i) * 2 * page
	return Item[benchVal]{s, s + page, benchVal{&shared, uint64(i)}}
}

func bulkTree(tb testing.TB, n int) *Tree[benchVal, benchCell, *benchCell] {
	items := make([]Item[benchVal], n)
	for i := range items {
		items[i] = benchItem(i)
	}
	var tr Tree[benchVal, benchCell, *benchCell]
	x := tr.Txn()
	if err := x.Replace(0, math.MaxUint64, items); err != nil {
		tb.Fatal(err)
	}
	x.Commit()
	return &tr
}

// oneByOne builds the tree the way the project does: one mmap, one Txn. The
// order is top-down, as mmap places areas.
func oneByOne(tb testing.TB, n int) *Tree[benchVal, benchCell, *benchCell] {
	var tr Tree[benchVal, benchCell, *benchCell]
	for i := n - 1; i >= 0; i-- {
		it := benchItem(i)
		x := tr.Txn()
		if err := x.Replace(it.Start, it.End, []Item[benchVal]{it}); err != nil {
			tb.Fatal(err)
		}
		x.Commit()
	}
	return &tr
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// bytesPerItem reports the heap that build's tree of n items keeps alive.
func bytesPerItem(tb testing.TB, n int, build func(testing.TB, int) *Tree[benchVal, benchCell, *benchCell]) float64 {
	before := heapAlloc()
	tr := build(tb, n)
	after := heapAlloc()
	if tr.Snapshot().Len() != n {
		tb.Fatalf("built %d items, want %d", tr.Snapshot().Len(), n)
	}
	runtime.KeepAlive(tr)
	return float64(after-before) / float64(n)
}

// TestMemoryPerItem checks the tree's share of the project's memory budget
// (256 bytes per area at 1,000,000 areas, ~120 of them for the area itself).
func TestMemoryPerItem(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("builds 1,000,000 items")
	}
	const n = 1_000_000
	bpi := bytesPerItem(t, n, bulkTree)
	t.Logf("%d items built in bulk: %.1f bytes/item", n, bpi)
	if bpi > 60 {
		t.Errorf("%.1f bytes per item; the budget leaves ~80 and the design expects ~36", bpi)
	}
}

// BenchmarkMemory builds 1,000,000 items in the ways that matter and reports
// the tree's bytes per item (ns/op is the whole build).
func BenchmarkMemory(b *testing.B) {
	for _, c := range []struct {
		name  string
		build func(testing.TB, int) *Tree[benchVal, benchCell, *benchCell]
	}{
		{"bulk", bulkTree},
		{"one-txn-each", oneByOne},
		{"random-order", func(tb testing.TB, n int) *Tree[benchVal, benchCell, *benchCell] {
			var tr Tree[benchVal, benchCell, *benchCell]
			for _, i := range rand.Perm(n) {
				it := benchItem(i)
				x := tr.Txn()
				if err := x.Replace(it.Start, it.End, []Item[benchVal]{it}); err != nil {
					tb.Fatal(err)
				}
				x.Commit()
			}
			return &tr
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var bpi float64
			for b.Loop() {
				bpi = bytesPerItem(b, 1_000_000, c.build)
			}
			b.ReportMetric(bpi, "bytes/item")
		})
	}
}

var sizes = []struct {
	name string
	n    int
}{{"1e3", 1_000}, {"1e6", 1_000_000}}

func BenchmarkFind(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			tr := oneByOne(b, sz.n)
			rng := rand.New(rand.NewPCG(1, 1))
			addrs := make([]uint64, 1<<16)
			for i := range addrs {
				addrs[i] = benchItem(rng.IntN(sz.n)).Start + rng.Uint64N(page)
			}
			s := tr.Snapshot()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := s.Find(addrs[i&(len(addrs)-1)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

// BenchmarkFindLockless is BenchmarkFind through Tree.Find, the fault path's
// lookup: no pin, a seqcount re-check per level.
func BenchmarkFindLockless(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			tr := oneByOne(b, sz.n)
			rng := rand.New(rand.NewPCG(1, 1))
			addrs := make([]uint64, 1<<16)
			for i := range addrs {
				addrs[i] = benchItem(rng.IntN(sz.n)).Start + rng.Uint64N(page)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := tr.Find(addrs[i&(len(addrs)-1)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	}
}

// BenchmarkReplace inserts one item into a hole and deletes it again, each in
// its own Txn with its own Commit: the cost of an mmap plus a munmap.
func BenchmarkReplace(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			tr := oneByOne(b, sz.n)
			rng := rand.New(rand.NewPCG(2, 2))
			holes := make([]uint64, 1<<16)
			for i := range holes {
				holes[i] = benchItem(rng.IntN(sz.n)).End
			}
			ins := make([]Item[benchVal], 1)
			b.ReportAllocs()
			defer reportCopied(b, tr, tr.CopiedBytes())
			i := 0
			for b.Loop() {
				h := holes[i&(len(holes)-1)]
				i++
				ins[0] = Item[benchVal]{h, h + page, benchVal{&shared, h}}
				x := tr.Txn()
				if err := x.Replace(h, h+page, ins); err != nil {
					b.Fatal(err)
				}
				x.Commit()
				x = tr.Txn()
				if err := x.Replace(h, h+page, nil); err != nil {
					b.Fatal(err)
				}
				x.Commit()
			}
		})
	}
}

// BenchmarkHighestGap asks for a gap larger than any hole except one near the
// bottom, so the search has to use the summaries to skip nearly everything.
func BenchmarkHighestGap(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			tr := oneByOne(b, sz.n)
			x := tr.Txn()
			hole := benchItem(sz.n / 10)
			if err := x.Replace(hole.Start, hole.End, nil); err != nil {
				b.Fatal(err)
			}
			x.Commit()
			s := tr.Snapshot()
			top := benchItem(sz.n - 1).End
			b.ReportAllocs()
			for b.Loop() {
				if e, ok := s.HighestGap(0, top, 3*page); !ok || e != hole.End+page {
					b.Fatal(fmt.Sprint(e, ok))
				}
			}
		})
	}
}

// reportCopied reports the bytes writes copied into nodes per iteration
// (Tree.CopiedBytes), from a count taken before the loop.
func reportCopied[V any, C comparable, P Cell[C, V]](b *testing.B, tr *Tree[V, C, P], start uint64) {
	if b.N > 0 {
		b.ReportMetric(float64(tr.CopiedBytes()-start)/float64(b.N), "copied-B/op")
	}
}
