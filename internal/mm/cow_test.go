package mm

import (
	"sync"
	"testing"
)

// TestCOWReuseChecksSlot forces the interleaving of TestCOWRaceAfterFork:
// the first writer stops after loading the shared page; the second copies
// it and drops the parent's mapping; the first must then not reuse the
// page, which now belongs to the child alone.
func TestCOWReuseChecksSlot(t *testing.T) {
	p := newPauser(HookWriteFault)
	s := newSpace(t, PerArea, true, &Hooks{At: p.at})
	mustMap(t, s, 0, 1, rw)
	if _, err := s.WriteAt([]byte{0xaa, 0xaa}, tbase); err != nil {
		t.Fatal(err)
	}
	child, err := s.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	p.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := s.WriteAt([]byte{1}, tbase)
		done <- err
	}()
	deadline(t, p.paused, "first writer loading the shared page")
	if _, err := s.WriteAt([]byte{2}, tbase+1); err != nil {
		t.Fatal(err)
	}
	close(p.resume)
	if err := deadline(t, done, "first writer"); err != nil {
		t.Fatal(err)
	}
	var pb, cb [2]byte
	s.ReadAt(pb[:], tbase)
	child.ReadAt(cb[:], tbase)
	if pb != [2]byte{1, 2} || cb != [2]byte{0xaa, 0xaa} {
		t.Fatalf("parent %x (want 0102), child %x (want aaaa)", pb, cb)
	}
}

// TestCOWRaceAfterFork: two goroutines of the parent write different
// bytes of a page shared with a forked child. One copies the page and
// drops the parent's mapping of it, which leaves the old page exclusive to
// the child; the other, which loaded the old page before, must not take
// that for "exclusive to me" and write into the child's page.
func TestCOWRaceAfterFork(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		s := newSpace(t, PerArea, true, nil)
		mustMap(t, s, 0, 1, rw)
		if _, err := s.WriteAt([]byte{0xaa, 0xaa}, tbase); err != nil {
			t.Fatal(err)
		}
		child, err := s.Fork()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				if _, err := s.WriteAt([]byte{byte(g + 1)}, tbase+uint64(g)); err != nil {
					t.Error(err)
				}
			}(g)
		}
		wg.Wait()
		var pb, cb [2]byte
		s.ReadAt(pb[:], tbase)
		child.ReadAt(cb[:], tbase)
		child.Close()
		if pb != [2]byte{1, 2} || cb != [2]byte{0xaa, 0xaa} {
			t.Fatalf("iteration %d: parent %x (want 0102), child %x (want aaaa)", i, pb, cb)
		}
	}
}
