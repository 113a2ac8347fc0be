package frames

import (
	"fmt"
	"sync"
	"testing"
)

// backings lists the arenas to test: each backing, the fallbacks forced.
func backings() []struct {
	name string
	o    Options
	want Backing
} {
	return []struct {
		name string
		o    Options
		want Backing
	}{
		{"memfd", Options{ChunkFrames: 64}, Memfd},
		{"no-memfd", Options{ChunkFrames: 64, failMemfd: true}, Anonymous},
		{"no-mmap", Options{ChunkFrames: 64, failMemfd: true, failMmap: true}, Heap},
		{"heap", Options{ChunkFrames: 64, Prefer: Heap}, Heap},
	}
}

// TestBackings: every backing, the forced fallbacks included, hands out
// zeroed frames that keep their bytes, copies them, frees and reuses them,
// and grows across chunks.
func TestBackings(t *testing.T) {
	for _, bc := range backings() {
		t.Run(bc.name, func(t *testing.T) {
			a, err := NewArena(bc.o)
			if err != nil {
				t.Fatal(err)
			}
			if a.Backing() != bc.want {
				t.Fatalf("backing %v, want %v", a.Backing(), bc.want)
			}
			if st := a.Stats(); st.Frames != 64 || st.Free != 62 || st.Bytes != 64*PageSize {
				t.Fatalf("fresh arena: %+v", st)
			}
			var fs []Frame
			seen := map[Frame]bool{}
			for i := 0; i < 200; i++ { // four chunks' worth
				f, err := a.Alloc(0)
				if err != nil {
					t.Fatal(err)
				}
				if !f.Ordinary() || seen[f] {
					t.Fatalf("alloc %d: frame %d handed out twice or special", i, f)
				}
				seen[f] = true
				for off := uint64(0); off < PageSize; off += 511 {
					if b := a.ByteAt(f, off); b != 0 {
						t.Fatalf("new frame %d byte %d = %d", f, off, b)
					}
				}
				a.Write(f, 8*uint64(i%500), []byte{byte(i), byte(i >> 8), 0xa5})
				fs = append(fs, f)
			}
			for i, f := range fs {
				got := make([]byte, 3)
				a.Read(f, 8*uint64(i%500), got)
				if got[0] != byte(i) || got[1] != byte(i>>8) || got[2] != 0xa5 {
					t.Fatalf("frame %d lost its bytes: %v", f, got)
				}
			}
			c, err := a.AllocCopy(fs[7], 0)
			if err != nil {
				t.Fatal(err)
			}
			if a.ByteAt(c, 8*7) != 7 || a.ByteAt(c, 8*7+2) != 0xa5 || !a.Exclusive(c) {
				t.Fatal("copy differs or is not exclusive")
			}
			a.Unmap(c)
			st := a.Stats()
			if st.Frames < 202 || st.Free != st.Frames-2-200 {
				t.Fatalf("after 200 allocations: %+v", st)
			}
			for _, f := range fs {
				a.Unmap(f)
			}
			if st := a.Stats(); st.Free != st.Frames-2 || st.Held != 0 {
				t.Fatalf("after freeing all: %+v", st)
			}
			// A reused frame comes back zeroed.
			f, _ := a.Alloc(0)
			if a.ByteAt(f, 8*uint64(199%500)) != 0 && a.ByteAt(f, 8*7) != 0 {
				t.Fatal("reused frame not zeroed")
			}
			for off := uint64(0); off < PageSize; off++ {
				if a.ByteAt(f, off) != 0 {
					t.Fatalf("reused frame %d byte %d not zero", f, off)
				}
			}
		})
	}
}

// TestZeroPage: the reserved zero page reads zeroes and never counts as
// exclusive or free.
func TestZeroPage(t *testing.T) {
	a, _ := NewArena(Options{ChunkFrames: 64})
	if a.Exclusive(Zero) || !a.TryRef(Zero) || a.ByteAt(Zero, 100) != 0 {
		t.Fatal("zero page")
	}
	a.Unref(Zero)
	if Zero.Ordinary() || Guard.Ordinary() || None.Ordinary() {
		t.Fatal("special values count as ordinary")
	}
}

// TestRefs: a frame lives while references remain after its last mapping
// goes (counted as held), TryRef fails on a free frame, and the frame is
// freed when the last reference goes.
func TestRefs(t *testing.T) {
	a, _ := NewArena(Options{ChunkFrames: 64, Shards: 1})
	f, _ := a.Alloc(1) // mapped, plus one reference for us
	a.Map(f)           // a second mapping (fork)
	if a.Maps(f) != 2 || a.Exclusive(f) {
		t.Fatal("two mappings")
	}
	a.Unmap(f)
	a.Unmap(f)
	if st := a.Stats(); st.Held != 1 {
		t.Fatalf("unmapped but referenced: held %d, want 1", st.Held)
	}
	free := a.Stats().Free
	if !a.TryRef(f) { // still referenced: TryRef works
		t.Fatal("TryRef failed on a referenced frame")
	}
	a.Unref(f)
	a.Unref(f)
	if st := a.Stats(); st.Held != 0 || st.Free != free+1 {
		t.Fatalf("after the last reference: %+v", st)
	}
	if a.TryRef(f) {
		t.Fatal("TryRef succeeded on a free frame")
	}
	// With one shard, the frame freed is the next handed out.
	if g, _ := a.Alloc(0); g != f {
		t.Fatalf("LIFO: got %d, want %d", g, f)
	}
	g, _ := a.Alloc(2)
	a.Discard(g, 2)
	if st := a.Stats(); st.Held != 0 || a.TryRef(g) {
		t.Fatalf("Discard left %+v", st)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Unmap of a free frame did not panic")
		}
	}()
	a.Unmap(g)
}

// TestConcurrentOwners: goroutines allocate, fill with their own id,
// check and free frames at once, across growth and stealing between
// shards; a frame handed to two owners at once shows up as a foreign id
// (run under -race; the heap backing lets the race detector see the
// bytes).
func TestConcurrentOwners(t *testing.T) {
	for _, bc := range backings() {
		t.Run(bc.name, func(t *testing.T) {
			o := bc.o
			o.Shards = 4
			a, err := NewArena(o)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := 1; g <= 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var held []Frame
					for i := 0; i < 2000; i++ {
						f, err := a.Alloc(0)
						if err != nil {
							t.Error(err)
							return
						}
						a.SetByte(f, 0, byte(g))
						a.SetByte(f, PageSize-1, byte(g))
						held = append(held, f)
						if len(held) > 20 || i%7 == 0 {
							for _, h := range held {
								if a.ByteAt(h, 0) != byte(g) || a.ByteAt(h, PageSize-1) != byte(g) {
									t.Errorf("frame %d owned by %d holds %d", h, g, a.ByteAt(h, 0))
								}
								a.Unmap(h)
							}
							held = held[:0]
						}
					}
					for _, h := range held {
						a.Unmap(h)
					}
				}()
			}
			wg.Wait()
			if st := a.Stats(); st.Free != st.Frames-2 {
				t.Fatalf("frames lost: %+v", st)
			}
		})
	}
}

// TestBadOptions: options the arena cannot honour are refused.
func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{ChunkFrames: 3}, {Shards: 3}, {ChunkFrames: 1 << 20, MaxChunks: 1 << 12}, {MaxChunks: 1 << 13}} {
		if _, err := NewArena(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	a, _ := NewArena(Options{ChunkFrames: 4, MaxChunks: 2})
	for i := 0; i < 6; i++ {
		if _, err := a.Alloc(0); err != nil {
			t.Fatalf("alloc %d: %v", i, err)
		}
	}
	if _, err := a.Alloc(0); err != ErrNoMemory {
		t.Fatalf("full arena: %v", err)
	}
}

// BenchmarkAllocFree: a frame allocated and freed by every goroutine,
// with one free list against the sharded default.
func BenchmarkAllocFree(b *testing.B) {
	for _, shards := range []int{1, 0} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			a, _ := NewArena(Options{Shards: shards})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					f, _ := a.Alloc(0)
					a.Unmap(f)
				}
			})
		})
	}
}

// BenchmarkTryRef: the cost a reader pays to hold a frame.
func BenchmarkTryRef(b *testing.B) {
	a, _ := NewArena(Options{})
	f, _ := a.Alloc(0)
	for b.Loop() {
		if a.TryRef(f) {
			a.Unref(f)
		}
	}
}

// TestReadWrite: Read and Write at every alignment and length agree with
// a byte model, whole words and partial ones alike.
func TestReadWrite(t *testing.T) {
	a, _ := NewArena(Options{ChunkFrames: 64})
	f, _ := a.Alloc(0)
	model := make([]byte, PageSize)
	n := byte(1)
	for off := uint64(0); off < 40; off++ {
		for l := 0; l < 27; l++ {
			p := make([]byte, l)
			for i := range p {
				p[i] = n
				n++
			}
			a.Write(f, off*61%(PageSize-32), p)
			copy(model[off*61%(PageSize-32):], p)
			got := make([]byte, l+5)
			o := off * 61 % (PageSize - 32)
			a.Read(f, o, got)
			if string(got) != string(model[o:o+uint64(l)+5]) {
				t.Fatalf("off %d len %d: read % x, want % x", o, l, got, model[o:o+uint64(l)+5])
			}
		}
	}
	for off := uint64(0); off < PageSize; off++ {
		if a.ByteAt(f, off) != model[off] {
			t.Fatalf("byte %d: %d, want %d", off, a.ByteAt(f, off), model[off])
		}
	}
}
