package mm

import (
	"testing"

	"github.com/vmspace/vmspace/internal/frames"
)

// newSpaceNoZero is newSpace with the zero page off (Config.NoZeroPage).
func newSpaceNoZero(t *testing.T, mode LockMode, rec bool) *Space {
	t.Helper()
	c := DefaultConfig()
	c.Mode, c.Recycle, c.NoZeroPage = mode, rec, true
	return newSpaceWith(t, c)
}

// slotAt returns what the page-table slot of addr holds.
func slotAt(s *Space, addr uint64) frames.Frame {
	return s.pt.Slot((addr - s.base) >> pageShift).Load()
}

// With the zero page off, a read fault on private anonymous memory
// allocates a page of its own and gives the area an anon_vma, so the area
// then merges as a written one does (do_anonymous_page under
// mm_forbids_zeropage); with it on, the zero page is mapped and nothing
// else changes. Case J of testdata/oracle/06_anon_vma_merge in small.
func TestZeroPageOption(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		for _, zero := range []bool{true, false} {
			var s *Space
			if zero {
				s = newSpace(t, mode, rec, nil)
			} else {
				s = newSpaceNoZero(t, mode, rec)
			}
			mustMap(t, s, 0, 1, rw)
			mustFault(t, s, 0, Read)
			p := slotAt(s, tbase)
			if p == frames.None || (p == frames.Zero) != zero {
				t.Fatalf("zero page %v: a read fault mapped %v (zero page: %v)", zero, p != frames.None, p == frames.Zero)
			}
			if got := s.Maps()[0].Start; got != tbase {
				t.Fatal("lost the area")
			}
			if hasAnon := s.tree.Len() == 1 && areaAt(s, tbase).anon.Load() != nil; hasAnon == zero {
				t.Fatalf("zero page %v: after a read fault the area has an anon_vma: %v", zero, hasAnon)
			}
			// A neighbour written independently: with the zero page the
			// read-only-touched area took no anon_vma and adopts the
			// neighbour's on merge; without it, two anon_vmas keep them apart.
			mustMap(t, s, 2, 1, rw)
			mustFault(t, s, 2, Write)
			mustMap(t, s, 1, 1, rw)
			want := "0-3 rw-p"
			if !zero {
				want = "0-2 rw-p, 2-3 rw-p"
			}
			if got := layout(s); got != want {
				t.Errorf("zero page %v: layout %q, want %q", zero, got, want)
			}
			// The read page reads as zeroes and is resident either way.
			var b [1]byte
			if _, err := s.ReadAt(b[:], tbase); err != nil || b[0] != 0 {
				t.Errorf("zero page %v: read %v %v", zero, b, err)
			}
			if in, err := s.Mincore(tbase, pg); err != nil || !in[0] {
				t.Errorf("zero page %v: mincore %v %v", zero, in, err)
			}
		}
	})
}

// MADV_POPULATE_READ and Fork follow the option: populate allocates pages
// when the zero page is off, and a fork child shares them copy-on-write,
// so a write in the parent after the fork leaves the child's zeroes alone.
func TestZeroPageOffPopulateFork(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpaceNoZero(t, mode, rec)
		mustMap(t, s, 0, 5, rw)
		if err := s.Advise(tbase, 4*pg, AdvisePopulateRead); err != nil {
			t.Fatal(err)
		}
		for i := uint64(0); i < 4; i++ {
			if p := slotAt(s, tbase+i*pg); p == frames.None || p == frames.Zero {
				t.Fatalf("page %d after populate_read: %v", i, p)
			}
		}
		child, err := s.Fork()
		if err != nil {
			t.Fatal(err)
		}
		defer child.Close()
		if !child.noZeroPage {
			t.Fatal("the child lost the option")
		}
		if p, q := slotAt(s, tbase), slotAt(child, tbase); p != q || s.mem.Exclusive(p) {
			t.Fatalf("after fork the page should be shared copy-on-write: %d %d", p, q)
		}
		if _, err := s.WriteAt([]byte{7}, tbase); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := child.ReadAt(b[:], tbase); err != nil || b[0] != 0 {
			t.Fatalf("child reads %v %v, want 0", b, err)
		}
		mustFault(t, child, 4, Read) // never touched before the fork
		if p := slotAt(child, tbase+4*pg); p == frames.None || p == frames.Zero {
			t.Fatal("the child's read fault mapped the zero page")
		}
	})
}

// areaAt returns the area covering addr in the published tree.
func areaAt(s *Space, addr uint64) *Area {
	it, ok := s.tree.Find(addr)
	if !ok {
		return nil
	}
	return it.Val.a
}

// Host settings besides the zero page: vm.overcommit_memory=2 makes
// do_mmap ignore MAP_NORESERVE (so the areas merge), and the stack guard
// gap and RLIMIT_STACK are the configured ones.
func TestHostSettings(t *testing.T) {
	t.Run("overcommit never ignores noreserve", func(t *testing.T) {
		for _, never := range []bool{false, true} {
			c := DefaultConfig()
			c.OvercommitNever = never
			s, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			mustMap(t, s, 0, 1, rw)
			if _, err := s.Map(tbase+pg, pg, rw, priv|MapFixed|MapNoReserve); err != nil {
				t.Fatal(err)
			}
			want := "0-1 rw-p, 1-2 rw-p"
			if never {
				want = "0-2 rw-p"
			}
			if got := layout(s); got != want {
				t.Errorf("overcommit never %v: %q, want %q", never, got, want)
			}
			s.Close()
		}
	})
	t.Run("stack guard gap", func(t *testing.T) {
		for _, gapPages := range []uint64{0, 1, 16} {
			c := DefaultConfig()
			c.StackGuardGap = gapPages * pg
			s, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			effective := gapPages
			if effective == 0 {
				effective = 256
			}
			// A stack at page 1000 and an accessible area ending
			// exactly one guard gap below its lowest growth target.
			if _, err := s.Map(tbase+1000*pg, pg, rw, priv|MapFixed|MapGrowsDown); err != nil {
				t.Fatal(err)
			}
			low := 1000 - effective - 1 // growth to page 999 leaves effective pages
			mustMap(t, s, low-1, 1, rw)
			if err := s.Fault(tbase+999*pg, Write); err != nil {
				t.Errorf("gap %d pages: growth keeping exactly the gap failed: %v", effective, err)
			}
			if err := s.Fault(tbase+(low+effective-1)*pg, Write); err == nil && effective > 1 {
				// Growing down to low+effective-1 leaves effective-1 pages.
				t.Errorf("gap %d pages: growth into the guard gap succeeded", effective)
			}
			s.Close()
		}
		c := DefaultConfig()
		c.StackGuardGap = 100 // not page-aligned
		if _, err := New(c); err == nil {
			t.Error("an unaligned guard gap was accepted")
		}
	})
	t.Run("stack limit", func(t *testing.T) {
		c := DefaultConfig()
		c.StackLimit = 4 * pg
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Map(tbase+1000*pg, pg, rw, priv|MapFixed|MapGrowsDown); err != nil {
			t.Fatal(err)
		}
		if err := s.Fault(tbase+997*pg, Write); err != nil {
			t.Errorf("growth to 4 pages failed: %v", err)
		}
		if err := s.Fault(tbase+996*pg, Write); err == nil {
			t.Error("growth to 5 pages beyond a 4-page RLIMIT_STACK succeeded")
		}
	})
}
