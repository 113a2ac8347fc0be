package tree

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReaders runs lock-free readers against a writer that commits
// continuously: lockless lookups (Find, First, Last) that validate, and pinned
// Snapshots that walk everything. Every eighth slot is never written, so a
// lookup there must always hit: a torn read of a recycled node would show up
// as a miss or a wrong item. Under -race it also checks that every field a
// reader reads is accessed atomically. "recycling" has no long-lived pin, so
// nodes are reused at once; "pinned" keeps the first Snapshot for the whole
// run, so unlinked nodes go to limbo and then to the collector, and that
// Snapshot must not change.
func TestConcurrentReaders(t *testing.T) {
	for _, pinned := range []bool{false, true} {
		name := "recycling"
		if pinned {
			name = "pinned"
		}
		t.Run(name, func(t *testing.T) { concurrentReaders(t, pinned) })
	}
}

func concurrentReaders(t *testing.T, pinned bool) {
	commits := 5000
	if testing.Short() || raceEnabled {
		commits = 1500
	}
	if raceEnabled {
		commits = 600
	}
	const space = 1 << 16
	var tr Tree[int, intCell, *intCell]
	// Every item's value is its Start, which readers can check on their own.
	mk := func(s, e uint64) Item[int] { return Item[int]{s, e, int(s)} }
	var items []Item[int]
	for a := uint64(0); a < space; a += 64 {
		items = append(items, mk(a, a+32))
	}
	x := tr.Txn()
	if err := x.Replace(0, space, items); err != nil {
		t.Fatal(err)
	}
	x.Commit()
	var first Snapshot[int, intCell, *intCell]
	firstLen := 0
	if pinned {
		first = tr.Snapshot()
		firstLen = first.Len()
	}
	stable := func(a uint64) bool { return a/64%8 == 0 }

	var done atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for !done.Load() {
				for range 50 {
					a := rng.Uint64N(space)
					got, ok := tr.Find(a)
					if ok && (got.Start > a || a >= got.End || got.Val != int(got.Start)) {
						errs <- "lockless Find returned a wrong item"
						return
					}
					if slot := a &^ 63; stable(slot) && a < slot+32 && (!ok || got.Start != slot) {
						errs <- "lockless Find missed an item that was never written"
						return
					}
					slot := a &^ 63
					if v, ok := tr.FindVal(a); ok && uint64(v) > a ||
						stable(slot) && a < slot+32 && (!ok || uint64(v) != slot) {
						errs <- "lockless FindVal returned a wrong item or missed a stable one"
						return
					}
					if got, ok := tr.First(a); ok && (got.End <= a || got.Val != int(got.Start)) {
						errs <- "lockless First returned an item ending too early"
						return
					}
					if got, ok := tr.Last(a); ok && (got.Start >= a || got.Val != int(got.Start)) {
						errs <- "lockless Last returned an item starting too late"
						return
					}
				}
				s := tr.Snapshot()
				for range 10 {
					a := rng.Uint64N(space)
					if got, ok := s.Find(a); ok && (got.Start > a || a >= got.End || got.Val != int(got.Start)) {
						errs <- "Find returned a wrong item"
						return
					}
					if got, ok := s.First(a); ok && got.End <= a {
						errs <- "First returned an item ending too early"
						return
					}
					if e, ok := s.HighestGap(0, space, 16); ok {
						if _, hit := s.Find(e - 1); hit {
							errs <- "HighestGap returned a used address"
							return
						}
					}
				}
				reads.Add(60)
				n, prev := 0, uint64(0)
				s.Ascend(0, func(it Item[int]) bool {
					if it.Start < prev {
						errs <- "Ascend out of order"
					}
					prev = it.End
					n++
					return true
				})
				if n != s.Len() {
					errs <- "Len disagrees with Ascend"
					return
				}
				s.Release()
			}
		}()
	}

	rng := rand.New(rand.NewPCG(99, 1))
	for range commits {
		x := tr.Txn()
		for range 1 + rng.IntN(4) {
			a := rng.Uint64N(space/64) * 64
			if stable(a) {
				continue
			}
			if _, ok := x.Snapshot().Find(a); ok {
				if err := x.Replace(a, a+64, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				// Fill the slot with one or two items, exercising splits and merges.
				ins := []Item[int]{mk(a, a+16+rng.Uint64N(16))}
				if rng.IntN(2) == 0 {
					ins = append(ins, mk(a+40, a+48))
				}
				if err := x.Replace(a, a+64, ins); err != nil {
					t.Fatal(err)
				}
			}
		}
		if rng.IntN(8) == 0 {
			x.Abort()
		} else {
			x.Commit()
		}
	}
	// Let the readers run at least a little even if the writer was quick.
	for reads.Load() < 1000 {
		runtime.Gosched()
	}
	done.Store(true)
	wg.Wait()
	t.Logf("%d commits against %d reader probes", commits, reads.Load())
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	final := tr.Snapshot()
	if err := final.Validate(); err != nil {
		t.Fatal(err)
	}
	final.Release()
	t.Logf("%d nodes reused", tr.rc.reused)
	if !pinned {
		if tr.rc.reused == 0 {
			t.Fatal("no node was recycled")
		}
		return
	}
	if first.Len() != firstLen || !slices.Equal(collect(first, true, 0, 0), items) {
		t.Fatal("the first snapshot changed")
	}
	if err := first.Validate(); err != nil {
		t.Fatal(err)
	}
}
