package tree

import (
	"errors"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
)

// image is a copy of every node reachable from a snapshot, with its identity,
// so that two images are equal only if no published node was replaced or
// changed in any way (generations included).
type image struct {
	r      root[int]
	leaves []*leaf[int]
	lvals  []leaf[int]
	inners []*inner[int]
	ivals  []inner[int]
}

func capture(s Snapshot[int]) *image {
	im := &image{}
	if s.r == nil {
		return im
	}
	im.r = *s.r
	var walk func(n *inner[int], h int)
	walk = func(n *inner[int], h int) {
		im.inners, im.ivals = append(im.inners, n), append(im.ivals, *n)
		for i := 0; i < n.n; i++ {
			if h == 1 {
				im.leaves, im.lvals = append(im.leaves, n.leaves[i]), append(im.lvals, *n.leaves[i])
			} else {
				walk(n.kids[i], h-1)
			}
		}
	}
	if s.r.height > 0 {
		walk(s.r.top, s.r.height)
	} else if s.r.leaf != nil {
		im.leaves, im.lvals = append(im.leaves, s.r.leaf), append(im.lvals, *s.r.leaf)
	}
	return im
}

func (im *image) equal(o *image) bool {
	return im.r == o.r &&
		slices.Equal(im.leaves, o.leaves) && slices.Equal(im.lvals, o.lvals) &&
		slices.Equal(im.inners, o.inners) && slices.Equal(im.ivals, o.ivals)
}

// TestAllocFailure injects a failure at a random node allocation of random
// transactions and checks that the published tree is exactly as before, that
// the failed Txn refuses to go on, and that later transactions work.
func TestAllocFailure(t *testing.T) {
	steps := 3000
	if testing.Short() || raceEnabled {
		steps = 1000
	}
	rng := rand.New(rand.NewPCG(7, 7))
	var tr Tree[int]
	var committed model
	var val int
	const space = 1 << 20
	fired, largest, tallest := 0, 0, 0
	for step := range steps {
		target := 3000
		if step > steps*2/3 {
			target = 0
		}
		before := tr.Snapshot()
		var beforeImage *image
		if step%10 == 0 {
			beforeImage = capture(before)
		}
		x := tr.Txn()
		calls, failAt := 0, 1+rng.IntN(10)
		x.SetAllocFail(func() bool {
			calls++
			return calls == failAt
		})
		working := committed
		var err error
		var last op
		for range 1 + rng.IntN(3) {
			o, next := randomOp(rng, working, space, target, &val)
			last = o
			if err = o.apply(x); err != nil {
				break
			}
			working = next
		}
		if err == nil {
			x.Commit()
			committed = working
			largest = max(largest, len(committed))
			if r := tr.Snapshot().r; r != nil {
				tallest = max(tallest, r.height)
			}
			continue
		}
		fired++
		if !errors.Is(err, syscall.ENOMEM) || !errors.Is(err, ErrNoMem) {
			t.Fatalf("step %d %v: error %v is not ENOMEM", step, last, err)
		}
		if err := x.Replace(0, 1, nil); !errors.Is(err, ErrNoMem) {
			t.Fatalf("write after a failure returned %v", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("Commit of a failed Txn did not panic")
				}
			}()
			x.Commit()
		}()
		x.Abort()
		if tr.Snapshot() != before {
			t.Fatalf("step %d %v: a failed Txn changed the published root", step, last)
		}
		if beforeImage != nil && !capture(tr.Snapshot()).equal(beforeImage) {
			t.Fatalf("step %d %v: a failed Txn changed published nodes", step, last)
		}
		if err := compare(tr.Snapshot(), committed, rng, space, 2); err != nil {
			t.Fatalf("step %d %v: %v", step, last, err)
		}
	}
	t.Logf("failpoint fired in %d of %d transactions; up to %d items, height %d", fired, steps, largest, tallest)
	if tallest < 2 {
		t.Errorf("the tree never grew to height 2")
	}
	if fired < steps/10 {
		t.Fatalf("the failpoint fired only %d times in %d steps", fired, steps)
	}
	if err := compare(tr.Snapshot(), committed, rng, space, 50); err != nil {
		t.Fatal(err)
	}
}

// TestAllocFailureEveryPoint fails each allocation of one big write in turn,
// so every allocation site (leaf and inner copies, splits, root growth) is hit.
func TestAllocFailureEveryPoint(t *testing.T) {
	items := make([]Item[int], 1600)
	for i := range items {
		items[i] = it(uint64(i)*4, uint64(i)*4+2)
	}
	// 1,000 items make a tree of height 2; the write adds 600 more, splitting
	// leaves and internal nodes, and then changes a value far away.
	tr := build(t, items[:1000]...)
	before := capture(tr.Snapshot())
	for failAt := 1; ; failAt++ {
		x := tr.Txn()
		calls := 0
		x.SetAllocFail(func() bool {
			calls++
			return calls == failAt
		})
		err := x.Replace(items[900].Start, items[len(items)-1].End, items[900:])
		if err == nil {
			err = x.Set(items[3].Start, -1)
		}
		if err == nil {
			t.Logf("failed each of %d allocations in turn", failAt-1)
			if failAt < 30 {
				t.Fatalf("only %d allocations", failAt-1)
			}
			x.Abort()
			break
		}
		x.Abort()
		if !capture(tr.Snapshot()).equal(before) {
			t.Fatalf("failure at allocation %d changed the published tree", failAt)
		}
	}
}
