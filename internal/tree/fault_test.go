package tree

import (
	"errors"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
)

// image is a copy of every node reachable from a snapshot, with its identity
// and seqcount, so that two images are equal only if no published node was
// replaced, refilled, retired or changed in any way (generations included).
type image struct {
	r     root[int, intCell, *intCell]
	nodes []nodeImage
}

type nodeImage struct {
	addr  any
	seq   uint64
	gen   uint64
	n     int32
	words [96]uint64
	ptrs  [2 * (innerMax + 1)]any
}

func leafImage(l *leaf[int, intCell, *intCell]) nodeImage {
	im := nodeImage{addr: l, seq: l.seq.Load(), gen: l.gen, n: l.n.Load()}
	for j := range l.items {
		im.words[2*j], im.words[2*j+1] = l.items[j].start.Load(), l.items[j].end.Load()
		im.words[2*len(l.items)+j] = uint64(l.items[j].val.Load())
	}
	return im
}

func innerImage(n *inner[int, intCell, *intCell]) nodeImage {
	im := nodeImage{addr: n, seq: n.seq.Load(), gen: n.gen, n: n.n.Load()}
	for i := range n.kids {
		im.words[3*i], im.words[3*i+1], im.words[3*i+2] = n.start[i].Load(), n.end[i].Load(), n.gap[i].Load()
		im.ptrs[2*i], im.ptrs[2*i+1] = n.kids[i].Load(), n.leaves[i].Load()
	}
	return im
}

func capture(s Snapshot[int, intCell, *intCell]) *image {
	im := &image{r: *s.root()}
	var walk func(n *inner[int, intCell, *intCell], h int)
	walk = func(n *inner[int, intCell, *intCell], h int) {
		im.nodes = append(im.nodes, innerImage(n))
		for i := 0; i < n.count(); i++ {
			if h == 1 {
				im.nodes = append(im.nodes, leafImage(n.leaves[i].Load()))
			} else {
				walk(n.kids[i].Load(), h-1)
			}
		}
	}
	if im.r.height > 0 {
		walk(im.r.top, im.r.height)
	} else if im.r.leaf != nil {
		im.nodes = append(im.nodes, leafImage(im.r.leaf))
	}
	return im
}

func (im *image) equal(o *image) bool {
	return im.r == o.r && slices.Equal(im.nodes, o.nodes)
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
	var tr Tree[int, intCell, *intCell]
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
			tallest = max(tallest, tr.Snapshot().r.height)
			before.Release()
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
		if tr.Snapshot().r != before.r {
			t.Fatalf("step %d %v: a failed Txn changed the published root", step, last)
		}
		before.Release()
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
