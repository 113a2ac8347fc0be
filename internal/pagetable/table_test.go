package pagetable

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmspace/vmspace/internal/frames"
)

func newFrame(t testing.TB, mem *frames.Arena) frames.Frame {
	f, err := mem.Alloc(0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTableBasics(t *testing.T) {
	mem := frames.Default()
	tb := New(35, mem) // a 47-bit space of 4 KiB pages
	free0 := mem.Stats().Free
	pns := []uint64{0, 1, 511, 512, 1 << 20, 1<<35 - 1}
	for _, pn := range pns {
		if tb.Lookup(pn) != frames.None {
			t.Fatalf("page %d present in an empty table", pn)
		}
		tb.Slot(pn).Store(newFrame(t, mem))
	}
	var seen []uint64
	tb.Range(0, 1<<35, func(pn uint64, _ *Slot) { seen = append(seen, pn) })
	if len(seen) != len(pns) {
		t.Fatalf("Range saw %v, want %v", seen, pns)
	}
	for i := range pns {
		if seen[i] != pns[i] {
			t.Fatalf("Range order %v, want %v", seen, pns)
		}
	}
	if n := tb.Clear(1, 1<<20); n != 3 {
		t.Errorf("Clear removed %d pages, want 3", n)
	}
	if tb.Lookup(0) == frames.None || tb.Lookup(1<<20) == frames.None || tb.Lookup(512) != frames.None {
		t.Error("Clear removed the wrong pages")
	}
	p := tb.Lookup(0)
	mem.SetByte(p, 5, 0xab)
	tb.Move(0, 1000, 1)
	if tb.Lookup(0) != frames.None || tb.Lookup(1000) != p || mem.ByteAt(tb.Lookup(1000), 5) != 0xab {
		t.Error("Move did not move the page")
	}
	tb.Slot(7).Store(frames.Guard)
	tb.Slot(8).Store(frames.Zero)
	if n := tb.ClearAll(); n != 5 {
		t.Errorf("ClearAll removed %d slots, want 5", n)
	}
	if got := mem.Stats().Free; got < free0 {
		t.Errorf("frames not returned: %d free, %d before", got, free0)
	}
}

// TestConcurrentSlots: goroutines creating directory levels and installing
// frames at once never lose a slot (run under -race).
func TestConcurrentSlots(t *testing.T) {
	mem := frames.Default()
	tb := New(35, mem)
	var wg sync.WaitGroup
	var installed atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pn := uint64(0); pn < 4096; pn += 3 {
				f := newFrame(t, mem)
				if tb.Slot(pn<<9).CompareAndSwap(frames.None, f) {
					installed.Add(1)
				} else {
					mem.Unmap(f)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	tb.Range(0, 1<<35, func(uint64, *Slot) { n++ })
	if int64(n) != installed.Load() || n != (4096+2)/3 {
		t.Errorf("%d pages present, %d installed, want %d", n, installed.Load(), (4096+2)/3)
	}
	tb.ClearAll()
}
