package tree

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
)

// dump describes every node reachable from s, including node identities and
// generations, so that two dumps are equal only if no published node was
// replaced or changed in any way.
func dump[V any](s Snapshot[V]) string {
	var b strings.Builder
	var walk func(n *inner[V], h int)
	walk = func(n *inner[V], h int) {
		fmt.Fprintf(&b, "inner %p gen %d n %d start %v end %v gap %v\n", n, n.gen, n.n, n.start, n.end, n.gap)
		for i := 0; i < n.n; i++ {
			if h == 1 {
				l := n.leaves[i]
				fmt.Fprintf(&b, "leaf %p gen %d n %d %v\n", l, l.gen, l.n, l.items)
			} else {
				walk(n.kids[i], h-1)
			}
		}
	}
	r := s.r
	switch {
	case r == nil:
	case r.height == 0 && r.leaf != nil:
		fmt.Fprintf(&b, "leaf %p gen %d n %d %v\n", r.leaf, r.leaf.gen, r.leaf.n, r.leaf.items)
	case r.height > 0:
		walk(r.top, r.height)
	}
	if r != nil {
		fmt.Fprintf(&b, "count %d height %d\n", r.count, r.height)
	}
	return b.String()
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
	fired := 0
	for step := range steps {
		target := 1200
		if (step/600)%2 == 1 {
			target = 0
		}
		before := tr.Snapshot()
		var beforeDump string
		if step%10 == 0 {
			beforeDump = dump(before)
		}
		x := tr.Txn()
		calls, failAt := 0, 1+rng.IntN(6)
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
		if beforeDump != "" && dump(tr.Snapshot()) != beforeDump {
			t.Fatalf("step %d %v: a failed Txn changed published nodes", step, last)
		}
		if err := compare(tr.Snapshot(), committed, rng, space, 2); err != nil {
			t.Fatalf("step %d %v: %v", step, last, err)
		}
	}
	t.Logf("failpoint fired in %d of %d transactions; %d items at the end", fired, steps, len(committed))
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
	items := make([]Item[int], 3000)
	for i := range items {
		items[i] = it(uint64(i)*4, uint64(i)*4+2)
	}
	tr := build(t, items[:1500]...)
	before := dump(tr.Snapshot())
	for failAt := 1; ; failAt++ {
		x := tr.Txn()
		calls := 0
		x.SetAllocFail(func() bool {
			calls++
			return calls == failAt
		})
		err := x.Replace(items[700].Start, items[2999].End, items[700:])
		if err == nil {
			err = x.Set(items[3].Start, -1)
		}
		if err == nil {
			if failAt < 10 {
				t.Fatalf("only %d allocations", failAt)
			}
			x.Abort()
			break
		}
		x.Abort()
		if got := dump(tr.Snapshot()); got != before {
			t.Fatalf("failure at allocation %d changed the published tree", failAt)
		}
	}
}
