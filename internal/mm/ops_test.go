package mm

import (
	"syscall"
	"testing"

	"github.com/vmspace/vmspace/internal/frames"
)

// TestMapMerge covers the merge cases of a new mapping
// (vma_merge_new_range): append, prepend, gap fill, and what keeps areas
// apart.
func TestMapMerge(t *testing.T) {
	type op struct {
		page, pages uint64
		prot        Prot
		flags       MapFlags
	}
	cases := []struct {
		name string
		ops  []op
		want string
	}{
		{"append", []op{{0, 2, rw, 0}, {2, 2, rw, 0}}, "0-4 rw-p"},
		{"prepend", []op{{2, 1, rw, 0}, {1, 1, rw, 0}}, "1-3 rw-p"},
		{"fill gap merges three", []op{{0, 1, rw, 0}, {2, 1, rw, 0}, {1, 1, rw, 0}}, "0-3 rw-p"},
		{"different prot", []op{{0, 1, rw, 0}, {1, 1, ro, 0}}, "0-1 rw-p, 1-2 r--p"},
		{"shared never merges", []op{{0, 1, rw, MapShared}, {1, 1, rw, MapShared}}, "0-1 rw-s, 1-2 rw-s"},
		{"locked", []op{{0, 1, rw, 0}, {1, 1, rw, MapLocked}}, "0-1 rw-p, 1-2 rw-p"},
		{"stack", []op{{0, 1, rw, 0}, {1, 1, rw, MapStack}}, "0-1 rw-p, 1-2 rw-p"},
		{"noreserve", []op{{0, 1, rw, 0}, {1, 1, rw, MapNoReserve}}, "0-1 rw-p, 1-2 rw-p"},
		{"fixed over middle splits", []op{{0, 3, rw, 0}, {1, 1, ro, 0}}, "0-1 rw-p, 1-2 r--p, 2-3 rw-p"},
		{"fixed over middle with same prot merges back", []op{{0, 3, rw, 0}, {1, 1, ro, 0}, {1, 1, rw, 0}}, "0-3 rw-p"},
		{"fixed spanning areas and a hole", []op{{0, 1, ro, 0}, {2, 1, ProtNone, 0}, {0, 4, rw, 0}}, "0-4 rw-p"},
		{"read-only created vs writable: no merge (VM_ACCOUNT)", []op{{0, 1, ro, 0}, {1, 1, rw, 0}}, "0-1 r--p, 1-2 rw-p"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
				s := newSpace(t, mode, rec, nil)
				for _, o := range c.ops {
					fl := priv | MapFixed
					if o.flags&MapShared != 0 {
						fl = MapShared | MapAnonymous | MapFixed
					} else {
						fl |= o.flags
					}
					if _, err := s.Map(tbase+o.page*pg, o.pages*pg, o.prot, fl); err != nil {
						t.Fatal(err)
					}
				}
				if got := layout(s); got != c.want {
					t.Errorf("layout %q, want %q", got, c.want)
				}
			})
		})
	}
}

// TestAnonMerge covers merges that depend on which areas were written
// (anon_vma compatibility), after the kernel's behaviour in
// testdata/oracle/06_anon_vma_merge.
func TestAnonMerge(t *testing.T) {
	cases := []struct {
		name   string
		touchL bool
		touchR bool
		want   string
	}{
		{"neither written", false, false, "0-3 rw-p"},
		{"left written", true, false, "0-3 rw-p"},
		{"right written", false, true, "0-3 rw-p"},
		{"both written independently: middle joins left only", true, true, "0-2 rw-p, 2-3 rw-p"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSpace(t, PerArea, true, nil)
			mustMap(t, s, 0, 1, rw)
			mustMap(t, s, 2, 1, rw)
			if c.touchL {
				mustFault(t, s, 0, Write)
			}
			if c.touchR {
				mustFault(t, s, 2, Write)
			}
			mustMap(t, s, 1, 1, rw)
			if got := layout(s); got != c.want {
				t.Errorf("layout %q, want %q", got, c.want)
			}
		})
	}
	t.Run("read fault does not create an anon_vma", func(t *testing.T) {
		s := newSpace(t, PerArea, true, nil)
		mustMap(t, s, 0, 1, rw)
		mustMap(t, s, 2, 1, rw)
		mustFault(t, s, 0, Read)
		mustFault(t, s, 2, Read)
		mustMap(t, s, 1, 1, rw)
		if got := layout(s); got != "0-3 rw-p" {
			t.Errorf("layout %q", got)
		}
	})
	t.Run("neighbour's anon_vma is shared on first write", func(t *testing.T) {
		s := newSpace(t, PerArea, true, nil)
		mustMap(t, s, 0, 1, rw)
		mustMap(t, s, 1, 1, rw|ProtExec)
		mustFault(t, s, 0, Write)
		mustFault(t, s, 1, Write)
		if err := s.Protect(tbase+pg, pg, rw); err != nil {
			t.Fatal(err)
		}
		if got := layout(s); got != "0-2 rw-p" {
			t.Errorf("layout %q", got)
		}
	})
	t.Run("written then read-only keeps VM_ACCOUNT", func(t *testing.T) {
		s := newSpace(t, PerArea, true, nil)
		mustMap(t, s, 0, 1, rw)
		mustFault(t, s, 0, Write)
		if err := s.Protect(tbase, pg, ro); err != nil {
			t.Fatal(err)
		}
		mustMap(t, s, 1, 1, ro)
		if got := layout(s); got != "0-1 r--p, 1-2 r--p" {
			t.Errorf("layout %q", got)
		}
		// Never written: the charge goes with the write permission.
		mustMap(t, s, 4, 1, rw)
		if err := s.Protect(tbase+4*pg, pg, ro); err != nil {
			t.Fatal(err)
		}
		mustMap(t, s, 5, 1, ro)
		if got := layout(s); got != "0-1 r--p, 1-2 r--p, 4-6 r--p" {
			t.Errorf("layout %q", got)
		}
	})
}

// TestProtect covers mprotect's splits, merges back, spanning, partial
// application before a hole, and errors.
func TestProtect(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpace(t, mode, rec, nil)
		mustMap(t, s, 0, 3, rw)
		steps := []struct {
			page, pages uint64
			prot        Prot
			err         error
			want        string
		}{
			{1, 1, ro, nil, "0-1 rw-p, 1-2 r--p, 2-3 rw-p"},
			{1, 1, rw, nil, "0-3 rw-p"},
			{0, 1, ro, nil, "0-1 r--p, 1-3 rw-p"},
			{0, 1, rw, nil, "0-3 rw-p"},
			{2, 1, ProtNone, nil, "0-2 rw-p, 2-3 ---p"},
			{2, 1, rw, nil, "0-3 rw-p"},
			{0, 3, rw, nil, "0-3 rw-p"}, // no-op
			{0, 0, ro, nil, "0-3 rw-p"}, // length 0
			{5, 1, ro, syscall.ENOMEM, "0-3 rw-p"},
			{2, 3, ro, syscall.ENOMEM, "0-2 rw-p, 2-3 r--p"}, // partial before the hole
		}
		for i, st := range steps {
			err := s.Protect(tbase+st.page*pg, st.pages*pg, st.prot)
			if (st.err == nil) != (err == nil) || st.err != nil && !isErrno(err, st.err.(syscall.Errno)) {
				t.Fatalf("step %d: err %v, want %v", i, err, st.err)
			}
			if got := layout(s); got != st.want {
				t.Fatalf("step %d: layout %q, want %q", i, got, st.want)
			}
		}
		// Spanning two areas with different protections sets both, and
		// they merge.
		mustMap(t, s, 10, 1, ro)
		mustMap(t, s, 11, 1, rw)
		if err := s.Protect(tbase+10*pg, 2*pg, ProtRead|ProtExec); err != nil {
			t.Fatal(err)
		}
		if got := layout(s); got != "0-2 rw-p, 2-3 r--p, 10-12 r-xp" {
			t.Errorf("layout %q", got)
		}
		for _, bad := range []struct {
			addr, length uint64
			prot         Prot
			err          syscall.Errno
		}{
			{tbase + 1, pg, ro, syscall.EINVAL},
			{tbase, pg, 8, syscall.EINVAL},
			{tbase, ^uint64(0) - tbase, ro, syscall.ENOMEM}, // wraps
			{tbase + 20*pg, pg, ro, syscall.ENOMEM},
		} {
			before := layout(s)
			if err := s.Protect(bad.addr, bad.length, bad.prot); !isErrno(err, bad.err) {
				t.Errorf("Protect(%#x, %#x, %v) = %v, want %v", bad.addr, bad.length, bad.prot, err, bad.err)
			}
			if after := layout(s); after != before {
				t.Errorf("failed Protect changed the layout: %q -> %q", before, after)
			}
		}
	})
}

// TestUnmap covers cutting in two, trimming, removing many, unmapping
// nothing, and errors; pages in the range go, others stay.
func TestUnmap(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpace(t, mode, rec, nil)
		mustMap(t, s, 0, 5, rw)
		for i := uint64(1); i <= 3; i++ {
			if _, err := s.WriteAt([]byte{byte(0x10 * i)}, tbase+i*pg); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Unmap(tbase+2*pg, pg); err != nil {
			t.Fatal(err)
		}
		if got := layout(s); got != "0-2 rw-p, 3-5 rw-p" {
			t.Fatalf("layout %q", got)
		}
		if got := snapshotContents(s, 5); got != ". 10 . 30 . " {
			t.Errorf("contents %q", got)
		}
		if err := s.Fault(tbase+2*pg, Read); faultCode(err) != MapErr {
			t.Errorf("fault in the hole: %v", err)
		}
		// Trim head and tail.
		if err := s.Unmap(tbase, pg); err != nil {
			t.Fatal(err)
		}
		if err := s.Unmap(tbase+4*pg, pg); err != nil {
			t.Fatal(err)
		}
		if got := layout(s); got != "1-2 rw-p, 3-4 rw-p" {
			t.Fatalf("layout %q", got)
		}
		// Across areas and holes; nothing mapped is fine.
		if err := s.Unmap(tbase, 100*pg); err != nil {
			t.Fatal(err)
		}
		if err := s.Unmap(tbase, 100*pg); err != nil {
			t.Fatal(err)
		}
		if got := layout(s); got != "" {
			t.Fatalf("layout %q", got)
		}
		mustMap(t, s, 0, 3, rw)
		for _, bad := range []struct {
			addr, length uint64
			err          syscall.Errno
		}{
			{tbase + 1, pg, syscall.EINVAL},
			{tbase, 0, syscall.EINVAL},
			{tbase, ^uint64(0), syscall.EINVAL},
			{1 << 50, pg, syscall.EINVAL},
		} {
			if err := s.Unmap(bad.addr, bad.length); !isErrno(err, bad.err) {
				t.Errorf("Unmap(%#x, %#x) = %v, want %v", bad.addr, bad.length, err, bad.err)
			}
			if got := layout(s); got != "0-3 rw-p" {
				t.Errorf("failed Unmap changed the layout: %q", got)
			}
		}
		// Unaligned length rounds up.
		if err := s.Unmap(tbase, 1); err != nil {
			t.Fatal(err)
		}
		if got := layout(s); got != "1-3 rw-p" {
			t.Errorf("layout %q", got)
		}
	})
}

// TestMapErrors covers mmap's argument checks and placement.
func TestMapErrors(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	mustMap(t, s, 0, 2, rw)
	for _, c := range []struct {
		addr, length uint64
		prot         Prot
		flags        MapFlags
		err          syscall.Errno
	}{
		{tbase + 1, pg, rw, priv | MapFixed, syscall.EINVAL},
		{tbase, 0, rw, priv | MapFixed, syscall.EINVAL},
		{tbase, pg, rw, MapAnonymous | MapFixed, syscall.EINVAL},
		{tbase, pg, rw, MapSharedValidate | MapAnonymous | MapFixed, syscall.EINVAL},
		{tbase, pg, rw, MapShared | MapGrowsDown | MapFixed, syscall.EINVAL},
		{tbase, pg, 8, priv | MapFixed, syscall.EINVAL},
		{tbase, pg, ro, priv | MapFixedNoReplace, syscall.EEXIST},
		{tbase + pg, 2 * pg, ro, priv | MapFixedNoReplace, syscall.EEXIST},
		{tbase - pg, 2 * pg, ro, priv | MapFixedNoReplace, syscall.EEXIST},
		{0, 0x7ffffffffffff000, rw, priv, syscall.ENOMEM},
		{0, ^uint64(0), rw, priv, syscall.ENOMEM},
		{1<<47 - pg, 2 * pg, rw, priv | MapFixed, syscall.ENOMEM},
		{0x1000, pg, rw, priv | MapFixed, syscall.EPERM},
	} {
		if _, err := s.Map(c.addr, c.length, c.prot, c.flags); !isErrno(err, c.err) {
			t.Errorf("Map(%#x, %#x, %v, %#x) = %v, want %v", c.addr, c.length, c.prot, c.flags, err, c.err)
		}
		if got := layout(s); got != "0-2 rw-p" {
			t.Fatalf("failed Map changed the layout: %q", got)
		}
	}
	// A hint on free memory is honoured (rounded down); on used memory
	// the space is searched top-down.
	if a, err := s.Map(tbase+10*pg+1, pg, rw, priv); err != nil || a != tbase+10*pg {
		t.Errorf("hint: %#x, %v", a, err)
	}
	a, err := s.Map(tbase, pg, rw, priv)
	if err != nil || a != s.mmapBase-pg {
		t.Errorf("hint over used memory: %#x, %v; want top-down at %#x", a, err, s.mmapBase-pg)
	}
	b, _ := s.Map(0, 2*pg, rw, priv)
	if b != a-2*pg {
		t.Errorf("next top-down mapping at %#x, want %#x", b, a-2*pg)
	}
	// Adjacent noreplace is fine.
	if _, err := s.Map(tbase+2*pg, pg, ro, priv|MapFixedNoReplace); err != nil {
		t.Error(err)
	}
}

// TestFaultAccess checks protections on the fault path and the SEGV
// codes: x86 lets a read through write or exec permission.
func TestFaultAccess(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpace(t, mode, rec, nil)
		prots := []Prot{ProtNone, ro, ProtWrite, ProtExec, rw}
		for i, p := range prots {
			mustMap(t, s, uint64(2*i), 1, p)
		}
		for i, p := range prots {
			for _, acc := range []Access{Read, Write, Exec} {
				err := s.Fault(tbase+uint64(2*i)*pg, acc)
				allowed := Flags(p).permits(acc)
				if allowed && err != nil || !allowed && faultCode(err) != AccErr {
					t.Errorf("prot %v %v: %v", p, acc, err)
				}
			}
			if err := s.Fault(tbase+uint64(2*i+1)*pg, Read); faultCode(err) != MapErr {
				t.Errorf("hole: %v", err)
			}
		}
		st := s.Stats()
		if mode == PerArea && st.Success == 0 {
			t.Errorf("no fault succeeded under an area lock: %+v", st)
		}
		if mode == WholeSpace && st.Success != 0 {
			t.Errorf("whole-space mode used area locks: %+v", st)
		}
	})
}

// TestContents checks zero fill, data across split/merge/protect, and the
// zero page.
func TestContents(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	mustMap(t, s, 0, 3, rw)
	buf := []byte{1, 2, 3}
	if _, err := s.WriteAt(buf, tbase+pg-1); err != nil { // spans two pages
		t.Fatal(err)
	}
	if err := s.Protect(tbase+pg, pg, ro); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := s.ReadAt(got, tbase+pg-1); err != nil || string(got) != "\x01\x02\x03\x00" {
		t.Errorf("read %v %v", got, err)
	}
	if n, err := s.WriteAt([]byte{9, 9}, tbase+pg-1); n != 1 || faultCode(err) != AccErr {
		t.Errorf("write into read-only page: n=%d err=%v", n, err)
	}
	if err := s.Protect(tbase+pg, pg, rw); err != nil {
		t.Fatal(err)
	}
	if got := layout(s); got != "0-3 rw-p" {
		t.Errorf("layout %q", got)
	}
	if _, err := s.ReadAt(got[:1], tbase+2*pg); err != nil || got[0] != 0 {
		t.Error("zero fill")
	}
	if p := s.pt.Lookup((tbase + 2*pg - s.base) >> pageShift); p != frames.Zero {
		t.Error("a read fault on private memory must map the zero page")
	}
	if _, err := s.WriteAt([]byte{7}, tbase+2*pg); err != nil {
		t.Fatal(err)
	}
	if p := s.pt.Lookup((tbase + 2*pg - s.base) >> pageShift); p == frames.Zero || s.mem.ByteAt(p, 0) != 7 {
		t.Error("a write must replace the zero page")
	}
	in, err := s.Mincore(tbase, 4*pg)
	if !isErrno(err, syscall.ENOMEM) {
		t.Errorf("mincore over a hole: %v %v", in, err)
	}
	in, err = s.Mincore(tbase, 3*pg)
	if err != nil || !in[0] || !in[1] || !in[2] {
		t.Errorf("mincore %v %v", in, err)
	}
}

// TestLockTwiceNoop: write-locking an area twice in one session changes
// nothing the second time, and ending the session unlocks it.
func TestLockTwiceNoop(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	mustMap(t, s, 0, 1, rw)
	a := s.tree.Len()
	_ = a
	it, _ := s.tree.Find(tbase)
	x := s.begin()
	x.lockArea(it.Val.a)
	stamp, count := it.Val.a.lock.Stamp(), it.Val.a.lock.Count()
	x.lockArea(it.Val.a)
	if it.Val.a.lock.Stamp() != stamp || it.Val.a.lock.Count() != count || !it.Val.a.lock.WriteLocked(&s.lock) {
		t.Error("second write lock changed the lock")
	}
	x.commit()
	x.end()
	if it.Val.a.lock.WriteLocked(&s.lock) {
		t.Error("area still write-locked after the session")
	}
}

// TestMaxAreas: the area limit stops splits and new areas with ENOMEM,
// leaving the layout as it was.
func TestMaxAreas(t *testing.T) {
	c := DefaultConfig()
	c.MaxAreas = 2
	s, _ := New(c)
	defer s.Close()
	mustMap(t, s, 0, 3, rw)
	mustMap(t, s, 10, 1, rw)
	before := layout(s)
	if err := s.Unmap(tbase+pg, pg); !isErrno(err, syscall.ENOMEM) {
		t.Errorf("unmap splitting into three at the limit: %v", err)
	}
	if err := s.Protect(tbase+pg, pg, ro); !isErrno(err, syscall.ENOMEM) {
		t.Errorf("protect splitting at the limit: %v", err)
	}
	if got := layout(s); got != before {
		t.Errorf("layout %q, want %q", got, before)
	}
	if err := s.CheckInvariants(true); err != nil {
		t.Error(err)
	}
}

// TestClose: a closed space frees its areas and refuses calls.
func TestClose(t *testing.T) {
	c := DefaultConfig()
	var freed int
	c.Hooks = &Hooks{Free: func(*Area) { freed++ }}
	s, _ := New(c)
	mustMap(t, s, 0, 1, rw)
	mustMap(t, s, 2, 1, ro)
	mustFault(t, s, 0, Write)
	snap := s.tree.Snapshot()
	s.Close()
	if freed != 2 {
		t.Errorf("freed %d areas, want 2", freed)
	}
	snap.Ascend(0, func(it itemT) bool {
		if it.Val.a.Live() || it.Val.a.LockCount() != 0 {
			t.Errorf("area %#x alive or attached after Close", it.Start)
		}
		return true
	})
	if err := s.Fault(tbase, Read); err != ErrClosed {
		t.Errorf("fault after close: %v", err)
	}
	if _, err := s.Map(tbase, pg, rw, priv|MapFixed); err != ErrClosed {
		t.Errorf("map after close: %v", err)
	}
	if s.Len() != 0 {
		t.Error("areas left")
	}
	s.Close()
}
