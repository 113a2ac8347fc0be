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
