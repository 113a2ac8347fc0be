package mm

import (
	"testing"
)

// TestLostWriteCopyAfterReuse forces the interleaving torture found (issue
// "a lost write under copy-on-write"): write fault B finds the page shared
// with a child and copies it; the child goes away, leaving the page
// exclusive; write fault A reuses it in place and writes; B must then not
// install its copy, which was taken before A's write. Linux's copier
// re-checks the PTE under the page-table lock (pte_same in wp_page_copy)
// and the reuse changed the PTE under that lock; here the copier re-checks,
// under the page-table lock that the reuse also takes, that the slot still
// holds the page and that the page is still shared.
func TestLostWriteCopyAfterReuse(t *testing.T) {
	for _, mode := range []LockMode{PerArea, WholeSpace} {
		t.Run(mode.String(), func(t *testing.T) {
			p := newPauser(HookBeforeInstall)
			s := newSpace(t, mode, true, &Hooks{At: p.at})
			mustMap(t, s, 0, 1, rw)
			if _, err := s.WriteAt([]byte{0xaa, 0xaa}, tbase); err != nil {
				t.Fatal(err)
			}
			child, err := s.Fork()
			if err != nil {
				t.Fatal(err)
			}
			p.armed.Store(true)
			done := make(chan error, 1)
			go func() { // B
				_, err := s.WriteAt([]byte{2}, tbase+1)
				done <- err
			}()
			deadline(t, p.paused, "writer B copying the shared page")
			child.Close()                                          // the page is now mapped by the parent alone
			if _, err := s.WriteAt([]byte{9}, tbase); err != nil { // A
				t.Fatal(err)
			}
			close(p.resume)
			if err := deadline(t, done, "writer B"); err != nil {
				t.Fatal(err)
			}
			var b [2]byte
			s.ReadAt(b[:], tbase)
			if b != [2]byte{9, 2} {
				t.Fatalf("page holds %x, want 0902: a write was lost", b)
			}
		})
	}
}

// TestLockedWritableCopiesShared: mprotect making locked memory writable
// populates it for writing (opWriteFault), which copies the pages a fork
// shared, under the page-table lock as a fault does: the parent's later
// writes stay out of the child.
func TestLockedWritableCopiesShared(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	if _, err := s.Map(tbase, 2*pg, rw, priv|MapFixed|MapLocked); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt([]byte{0xaa, 0xbb}, tbase); err != nil {
		t.Fatal(err)
	}
	if err := s.Protect(tbase, 2*pg, ro); err != nil {
		t.Fatal(err)
	}
	child, err := s.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	if m := s.pt.Lookup((tbase - s.base) >> pageShift).Maps(); m != 2 {
		t.Fatalf("page mapped %d times after the fork, want 2", m)
	}
	if err := s.Protect(tbase, 2*pg, rw); err != nil {
		t.Fatal(err)
	}
	if m := s.pt.Lookup((tbase - s.base) >> pageShift).Maps(); m != 1 {
		t.Fatalf("page mapped %d times after mprotect populated it for writing, want 1 (a copy)", m)
	}
	if _, err := s.WriteAt([]byte{0x55}, tbase); err != nil {
		t.Fatal(err)
	}
	var pb, cb [2]byte
	s.ReadAt(pb[:], tbase)
	child.ReadAt(cb[:], tbase)
	if pb != [2]byte{0x55, 0xbb} || cb != [2]byte{0xaa, 0xbb} {
		t.Fatalf("parent %x (want 55bb), child %x (want aabb)", pb, cb)
	}
}
