package mm

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vmspace/vmspace/internal/frames"
)

// These tests force the races of package frames' reuse rule: a fault that
// loaded a frame number from a slot, under an area read lock, while
// MADV_DONTNEED (under the same read lock) frees the frame and another
// space's fault takes it. The arena has one free list, so the frame freed
// is the next one handed out.

// reuseSetup returns a space s with one private page holding 0xaa bytes,
// a second space q on the same one-shard arena, and the pauser that stops
// s's faults at HookFrameLoaded.
func reuseSetup(t *testing.T) (s, q *Space, p *pauser) {
	t.Helper()
	mem, err := frames.NewArena(frames.Options{ChunkFrames: 64, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	p = newPauser(HookFrameLoaded)
	c := DefaultConfig()
	c.Frames, c.Hooks = mem, &Hooks{At: p.at}
	if s, err = New(c); err != nil {
		t.Fatal(err)
	}
	c.Hooks = nil
	if q, err = New(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); q.Close() })
	mustMap(t, s, 0, 1, rw)
	mustMap(t, q, 0, 1, rw)
	if _, err := s.WriteAt(bytes.Repeat([]byte{0xaa}, 8), tbase); err != nil {
		t.Fatal(err)
	}
	return s, q, p
}

// reuseByOther frees s's page with MADV_DONTNEED while a fault of s is
// parked, and has q take the same frame and fill it with 0xbb bytes.
func reuseByOther(t *testing.T, s, q *Space) frames.Frame {
	t.Helper()
	f := s.pt.Lookup((tbase - s.base) >> pageShift)
	if err := s.Advise(tbase, pg, AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	if _, err := q.WriteAt(bytes.Repeat([]byte{0xbb}, 8), tbase); err != nil {
		t.Fatal(err)
	}
	if g := q.pt.Lookup((tbase - q.base) >> pageShift); g != f {
		t.Fatalf("q got frame %d, not the freed %d: the test did not force the reuse", g, f)
	}
	return f
}

// TestFrameReuseRead: a ReadAt parked after loading the slot never
// returns the bytes of the space the frame went to.
func TestFrameReuseRead(t *testing.T) {
	s, q, p := reuseSetup(t)
	p.armed.Store(true)
	got := make([]byte, 8)
	done := make(chan error, 1)
	go func() { _, err := s.ReadAt(got, tbase); done <- err }()
	deadline(t, p.paused, "reader loading the slot")
	reuseByOther(t, s, q)
	close(p.resume)
	if err := deadline(t, done, "reader"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, 8)) && !bytes.Equal(got, bytes.Repeat([]byte{0xaa}, 8)) {
		t.Fatalf("reader saw % x: another space's bytes (want zeroes or its own aa)", got)
	}
}

// TestFrameReuseWrite: a WriteAt parked after loading the slot never
// writes into the frame's new owner.
func TestFrameReuseWrite(t *testing.T) {
	s, q, p := reuseSetup(t)
	p.armed.Store(true)
	done := make(chan error, 1)
	go func() { _, err := s.WriteAt([]byte{0x11}, tbase); done <- err }()
	deadline(t, p.paused, "writer loading the slot")
	reuseByOther(t, s, q)
	close(p.resume)
	if err := deadline(t, done, "writer"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	q.ReadAt(got, tbase)
	if !bytes.Equal(got, bytes.Repeat([]byte{0xbb}, 8)) {
		t.Fatalf("q's page is % x after s's write: s wrote into q's frame", got)
	}
	s.ReadAt(got[:1], tbase)
	if got[0] != 0x11 {
		t.Fatalf("s's write is lost: %#x", got[0])
	}
}

// TestFrameReuseFree: MADV_FREE parked after loading the slot never marks
// the frame's new owner clean (which would let q's MADV_PAGEOUT drop q's
// data).
func TestFrameReuseFree(t *testing.T) {
	s, q, p := reuseSetup(t)
	p.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- s.Advise(tbase, pg, AdviseFree) }()
	deadline(t, p.paused, "MADV_FREE loading the slot")
	reuseByOther(t, s, q)
	close(p.resume)
	if err := deadline(t, done, "MADV_FREE"); err != nil {
		t.Fatal(err)
	}
	if err := q.Advise(tbase, pg, AdvisePageout); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 8)
	q.ReadAt(got, tbase)
	if !bytes.Equal(got, bytes.Repeat([]byte{0xbb}, 8)) {
		t.Fatalf("q's page is % x after its pageout: s's MADV_FREE marked q's frame", got)
	}
}

// TestFrameBackings runs copy-on-write, shared memory, DONTNEED and
// reuse over each backing (the fallbacks where memfd or mmap is missing
// included); with the heap backing the race detector sees the frames'
// bytes too. Every frame is back on the free lists at the end.
func TestFrameBackings(t *testing.T) {
	for _, b := range []frames.Backing{frames.Memfd, frames.Anonymous, frames.Heap} {
		t.Run(b.String(), func(t *testing.T) {
			mem, err := frames.NewArena(frames.Options{ChunkFrames: 64, Prefer: b})
			if err != nil {
				t.Fatal(err)
			}
			c := DefaultConfig()
			c.Frames = mem
			s, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			mustMap(t, s, 0, 16, rw)
			if _, err := s.Map(tbase+32*pg, 4*pg, ProtRead|ProtWrite, MapShared|MapAnonymous|MapFixed); err != nil {
				t.Fatal(err)
			}
			for i := uint64(0); i < 16; i++ {
				s.WriteAt([]byte{byte(i)}, tbase+i*pg)
			}
			s.WriteAt([]byte{0x5e}, tbase+32*pg)
			child, err := s.Fork()
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g, sp := range []*Space{s, child} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := 0; r < 50; r++ {
						for i := uint64(0); i < 16; i++ {
							sp.WriteAt([]byte{byte(g + 1)}, tbase+i*pg+1)
							var b [2]byte
							sp.ReadAt(b[:], tbase+i*pg)
							if b[0] != byte(i) && b[0] != 0 || b[1] != byte(g+1) {
								t.Errorf("space %d page %d: % x", g, i, b)
								return
							}
						}
						sp.Advise(tbase+uint64(r%16)*pg, pg, AdviseDontNeed)
					}
				}()
			}
			wg.Wait()
			var b [1]byte
			child.ReadAt(b[:], tbase+32*pg)
			if b[0] != 0x5e {
				t.Errorf("shared page in the child: %#x", b[0])
			}
			child.Close()
			s.Close()
			// Every private frame is back; the shared object keeps its
			// one written page until the collector finds the object
			// (TestDroppedSpaceFreesFrames).
			if st := mem.Stats(); st.Free != st.Frames-2-1 || st.Held != 0 {
				t.Errorf("frames not back after Close: %+v, want all free but the shared page", st)
			}
		})
	}
}

// TestDroppedSpaceFreesFrames: a space dropped without Close gives its
// frames, private and shared, back once the collector finds it (the
// collector no longer frees pages by itself).
func TestDroppedSpaceFreesFrames(t *testing.T) {
	mem, err := frames.NewArena(frames.Options{ChunkFrames: 64})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		c := DefaultConfig()
		c.Frames = mem
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		mustMap(t, s, 0, 8, rw)
		if _, err := s.Map(tbase+16*pg, 4*pg, ProtRead|ProtWrite, MapShared|MapAnonymous|MapFixed); err != nil {
			t.Fatal(err)
		}
		for i := uint64(0); i < 20; i++ {
			s.WriteAt([]byte{1}, tbase+i*pg)
		}
	}()
	if st := mem.Stats(); st.Free+12 != st.Frames-2 {
		t.Fatalf("12 pages in use: %+v", st)
	}
	// The cleanups run on the runtime's cleanup goroutine, behind those
	// of every space the package's earlier tests dropped: wait for them
	// (bounded, so that a leak fails rather than hangs).
	st := mem.Stats()
	for i := 0; i < 5000 && st.Free != st.Frames-2; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
		st = mem.Stats()
	}
	if st.Free != st.Frames-2 {
		t.Fatalf("dropped space kept its frames: %+v", st)
	}
}

// TestSharedWriteFaultDirties: a write fault that makes a shared object's
// page present dirties it (do_shared_fault makes the PTE dirty), so
// MADV_PAGEOUT, which drops only clean shmem pages, keeps it; a read
// fault leaves it clean and droppable.
func TestSharedWriteFaultDirties(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	if _, err := s.Map(tbase, 2*pg, rw, MapShared|MapAnonymous|MapFixed); err != nil {
		t.Fatal(err)
	}
	if err := s.Fault(tbase, Write); err != nil {
		t.Fatal(err)
	}
	if err := s.Fault(tbase+pg, Read); err != nil {
		t.Fatal(err)
	}
	if err := s.Advise(tbase, 2*pg, AdvisePageout); err != nil {
		t.Fatal(err)
	}
	in, err := s.Mincore(tbase, 2*pg)
	if err != nil || !in[0] || in[1] {
		t.Fatalf("after pageout: resident %v %v, want [true false] (written page kept, clean one dropped)", in, err)
	}
}
