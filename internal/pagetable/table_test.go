package pagetable

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestTableBasics(t *testing.T) {
	tb := New(35) // a 47-bit space of 4 KiB pages
	pns := []uint64{0, 1, 511, 512, 1 << 20, 1<<35 - 1}
	for _, pn := range pns {
		if tb.Lookup(pn) != nil {
			t.Fatalf("page %d present in an empty table", pn)
		}
		tb.Slot(pn).Store(NewPage())
	}
	var seen []uint64
	tb.Range(0, 1<<35, func(pn uint64, _ *atomic.Pointer[Page]) { seen = append(seen, pn) })
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
	if tb.Lookup(0) == nil || tb.Lookup(1<<20) == nil || tb.Lookup(512) != nil {
		t.Error("Clear removed the wrong pages")
	}
	p := tb.Lookup(0)
	p.SetByte(5, 0xab)
	tb.Move(0, 1000, 1)
	if tb.Lookup(0) != nil || tb.Lookup(1000) != p || tb.Lookup(1000).ByteAt(5) != 0xab {
		t.Error("Move did not move the page")
	}
}

// TestConcurrentSlots: goroutines creating directory levels and installing
// pages at once never lose a slot (run under -race).
func TestConcurrentSlots(t *testing.T) {
	tb := New(35)
	var wg sync.WaitGroup
	var installed atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pn := uint64(0); pn < 4096; pn += 3 {
				if tb.Slot(pn<<9).CompareAndSwap(nil, NewPage()) {
					installed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	tb.Range(0, 1<<35, func(uint64, *atomic.Pointer[Page]) { n++ })
	if int64(n) != installed.Load() || n != (4096+2)/3 {
		t.Errorf("%d pages present, %d installed, want %d", n, installed.Load(), (4096+2)/3)
	}
}

func TestPageBytes(t *testing.T) {
	p := NewPage()
	for off := uint64(0); off < 16; off++ {
		p.SetByte(off, byte(off+1))
	}
	q := p.Copy()
	for off := uint64(0); off < 16; off++ {
		if q.ByteAt(off) != byte(off+1) {
			t.Fatalf("copy byte %d = %d", off, q.ByteAt(off))
		}
	}
	if !q.Exclusive() || !Zero().IsZero() || Zero().Exclusive() {
		t.Error("mapping counts")
	}
}

func TestPageReadAll(t *testing.T) {
	p := NewPage()
	for off := uint64(0); off < 4096; off += 7 {
		p.SetByte(off, byte(off*13+1))
	}
	buf := make([]byte, 4096)
	p.ReadAll(buf)
	for off := range buf {
		if buf[off] != p.ByteAt(uint64(off)) {
			t.Fatalf("byte %d: ReadAll %#x, ByteAt %#x", off, buf[off], p.ByteAt(uint64(off)))
		}
	}
}
