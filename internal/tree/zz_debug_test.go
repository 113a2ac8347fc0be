package tree

import (
	"math/rand/v2"
	"testing"
)

func TestZZDebug(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 42))
	var tr Tree[int]
	var m model
	var val int
	maxH, maxN := 0, 0
	ops := map[string]int{}
	for step := range 5000 {
		tgt := 8000
		if (step/1500)%2 == 1 {
			tgt = 0
		}
		x := tr.Txn()
		o, next := randomOp(rng, m, 1<<20, tgt, &val)
		ops[o.name]++
		if err := o.apply(x); err != nil {
			t.Fatal(err)
		}
		x.Commit()
		m = next
		s := tr.Snapshot()
		if s.r != nil && s.r.height > maxH {
			maxH = s.r.height
		}
		maxN = max(maxN, s.Len())
		if step%250 == 0 {
			t.Log(step, s.Len())
		}
	}
	t.Log(maxH, maxN, ops)
}
