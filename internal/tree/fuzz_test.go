package tree

import (
	"errors"
	"math/rand/v2"
	"syscall"
	"testing"
)

// fuzzInput hands out the fuzzer's bytes as numbers; past the end it yields
// zeros, so every input decodes to some op sequence.
type fuzzInput struct{ b []byte }

func (f *fuzzInput) more() bool { return len(f.b) > 0 }

func (f *fuzzInput) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzInput) u16() uint64 { return uint64(f.byte())<<8 | uint64(f.byte()) }

// FuzzTree decodes the input as a sequence of writes, commits, aborts and
// injected allocation failures on a 64 KiB address space, checking the Txn's
// view and the published view against the model after every step.
func FuzzTree(f *testing.F) {
	f.Add([]byte{0, 0, 16, 8, 3, 5, 2, 1, 0, 0, 40, 0, 4})
	f.Add([]byte{1, 0, 0, 255, 255, 200, 7, 0, 1, 0, 3, 9, 5, 6, 3, 0, 1, 0, 0, 2, 0, 4})
	f.Add([]byte{1, 0, 0, 255, 255, 250, 5, 2, 0, 128, 8, 0, 0, 3, 1, 2, 0, 0, 128, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{data}
		rng := rand.New(rand.NewPCG(uint64(len(data)), 1))
		const space = 1 << 16
		var tr Tree[int, intCell, *intCell]
		var committed, working model
		x := tr.Txn()
		val := 0
		for in.more() {
			var o op
			next := working
			switch in.byte() % 7 {
			case 0, 1: // Replace [lo, hi) by items laid out from the input
				lo := working.snapTo(in.u16(), in.byte())
				hi := working.snapTo(lo+uint64(in.byte())*uint64(1+in.byte()%64), in.byte())
				if hi < lo {
					continue
				}
				var items []Item[int]
				at := lo
				for k := int(in.byte() % 96); k > 0 && at < hi; k-- {
					s := at + uint64(in.byte()%8)
					e := s + 1 + uint64(in.byte()%16)
					if e > hi {
						break
					}
					val++
					items = append(items, Item[int]{s, e, val})
					at = e
				}
				o = op{name: "replace", lo: lo, hi: hi, items: items}
				next = working.replace(lo, hi, items)
			case 2: // Set
				if len(working) == 0 {
					continue
				}
				itm := working[int(in.u16())%len(working)]
				val++
				o = op{name: "set", set: true, lo: itm.Start, val: val}
				next = working.set(itm.Start, val)
			case 3:
				x.Commit()
				committed, x = working, tr.Txn()
				if err := compare(tr.Snapshot(), committed, rng, space, 4); err != nil {
					t.Fatalf("after Commit: %v", err)
				}
				continue
			case 4:
				x.Abort()
				working, x = committed, tr.Txn()
				continue
			case 5: // fail the k-th allocation from now on
				calls, failAt := 0, int(in.byte()%8)
				x.SetAllocFail(func() bool {
					calls++
					return calls == failAt
				})
				continue
			case 6:
				if err := compare(x.Snapshot(), working, rng, space, int(in.byte()%16)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			before := tr.Snapshot()
			if err := o.apply(x); err != nil {
				if !errors.Is(err, syscall.ENOMEM) {
					t.Fatalf("%v: %v", o, err)
				}
				x.Abort()
				if tr.Snapshot() != before {
					t.Fatal("failed Txn changed the published tree")
				}
				if err := compare(before, committed, rng, space, 4); err != nil {
					t.Fatalf("after failed %v: %v", o, err)
				}
				working, x = committed, tr.Txn()
				continue
			}
			working = next
			if err := compare(x.Snapshot(), working, rng, space, 2); err != nil {
				t.Fatalf("after %v: %v", o, err)
			}
		}
	})
}

// snapTo is snap driven by the input: addresses inside an item move to its
// start or end as the choice byte says.
func (m model) snapTo(addr uint64, choice byte) uint64 {
	if it, ok := m.find(addr); ok && it.Start != addr {
		if choice%2 == 0 {
			return it.Start
		}
		return it.End
	}
	return addr
}
