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
// continuously. Under -race this is the check that published nodes are never
// written: the writer changes only nodes of its own Txn, which readers cannot
// reach until the atomic store in Commit.
func TestConcurrentReaders(t *testing.T) {
	commits := 5000
	if testing.Short() || raceEnabled {
		commits = 1500
	}
	const space = 1 << 16
	var tr Tree[int]
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
	first := tr.Snapshot()
	firstLen := first.Len()

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
				s := tr.Snapshot()
				for range 50 {
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
				reads.Add(50)
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
			}
		}()
	}

	rng := rand.New(rand.NewPCG(99, 1))
	for range commits {
		x := tr.Txn()
		for range 1 + rng.IntN(4) {
			a := rng.Uint64N(space/64) * 64
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
	if err := tr.Snapshot().Validate(); err != nil {
		t.Fatal(err)
	}
	if first.Len() != firstLen || !slices.Equal(collect(first, true, 0, 0), items) {
		t.Fatal("the first snapshot changed")
	}
	if err := first.Validate(); err != nil {
		t.Fatal(err)
	}
}
