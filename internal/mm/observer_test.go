package mm

import (
	"fmt"
	"strings"
	"testing"
)

// recordingObserver renders what a space tells its observer, in pages
// relative to tbase.
type recordingObserver struct{ calls []string }

func (r *recordingObserver) Zap(start, end uint64, unmapped bool) {
	r.calls = append(r.calls, fmt.Sprintf("zap %d-%d unmapped=%v", pageOf(start), pageOf(end), unmapped))
}

func (r *recordingObserver) Move(from, to, length uint64, prot Prot) {
	r.calls = append(r.calls, fmt.Sprintf("move %d-%d to %d %s", pageOf(from), pageOf(from+length), pageOf(to), prot.String()))
}

func (r *recordingObserver) Protect(start, end uint64, prot Prot) {
	r.calls = append(r.calls, fmt.Sprintf("protect %d-%d %s", pageOf(start), pageOf(end), prot.String()))
}

func pageOf(a uint64) int64 { return int64(a-tbase) / pg }

// TestObserverProtectsOnlyWhatChanged: the observer hears Protect for
// exactly the ranges whose protection a session changed or that had no
// area before it, never for the untouched parts of areas the session
// merged, split or extended. Real memory behind those parts may be
// changing under its owner at that moment (a userfaultfd client's munmap
// or mremap not yet mirrored); an mprotect of a whole merged area landed
// there (the real-fault torture's --racy-layout mode: a read that
// faulted, a store to a read-only page that landed).
func TestObserverProtectsOnlyWhatChanged(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, s *Space) // before the observer is installed
		op    func(s *Space) error
		want  string
	}{
		{"map into a hole", nil,
			func(s *Space) error { _, err := s.Map(tbase+4*pg, 2*pg, rw, priv|MapFixed); return err },
			"protect 4-6 rw-"},
		{"map merging with both neighbours",
			func(t *testing.T, s *Space) { mustMap(t, s, 0, 4, rw); mustMap(t, s, 6, 4, rw) },
			func(s *Space) error { _, err := s.Map(tbase+4*pg, 2*pg, rw, priv|MapFixed); return err },
			"protect 4-6 rw-"},
		{"map over part of an area with the same protection",
			func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw) },
			func(s *Space) error { _, err := s.Map(tbase+4*pg, 2*pg, rw, priv|MapFixed); return err },
			"zap 4-6 unmapped=true"},
		{"map over part of an area with another protection",
			func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw) },
			func(s *Space) error { _, err := s.Map(tbase+4*pg, 2*pg, ro, priv|MapFixed); return err },
			"zap 4-6 unmapped=true; protect 4-6 r--"},
		{"protect the middle of an area",
			func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw) },
			func(s *Space) error { return s.Protect(tbase+4*pg, 2*pg, ro) },
			"protect 4-6 r--"},
		{"protect making three areas one",
			func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw); mustProtect(t, s, 4, 2, ro) },
			func(s *Space) error { return s.Protect(tbase+4*pg, 2*pg, rw) },
			"protect 4-6 rw-"},
		{"protect over areas some of which already have it",
			func(t *testing.T, s *Space) {
				mustMap(t, s, 0, 10, rw)
				mustProtect(t, s, 2, 2, ro)
				mustProtect(t, s, 6, 2, ro)
			},
			func(s *Space) error { return s.Protect(tbase+1*pg, 8*pg, ro) },
			"protect 1-2 r--; protect 4-6 r--; protect 8-9 r--"},
		{"protect to the same protection", func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw) },
			func(s *Space) error { return s.Protect(tbase+2*pg, 2*pg, rw) },
			""},
		{"unmap the middle", func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw) },
			func(s *Space) error { return s.Unmap(tbase+4*pg, 2*pg) },
			"zap 4-6 unmapped=true"},
		{"dontneed", func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw) },
			func(s *Space) error { return s.Advise(tbase+4*pg, 2*pg, AdviseDontNeed) },
			"zap 4-6 unmapped=false"}, // with an observer, a write session in both modes
		{"guard install", func(t *testing.T, s *Space) { mustMap(t, s, 0, 10, rw) },
			func(s *Space) error { return s.Advise(tbase+4*pg, 2*pg, AdviseGuardInstall) },
			"zap 4-6 unmapped=false"},
		{"remap moving into a hole next to an area of the same protection",
			func(t *testing.T, s *Space) { mustMap(t, s, 0, 4, rw); mustMap(t, s, 10, 2, rw) },
			func(s *Space) error {
				_, err := s.Remap(tbase+10*pg, 2*pg, 2*pg, RemapMayMove|RemapFixed, tbase+4*pg)
				return err
			},
			"move 10-12 to 4 rw-; zap 10-12 unmapped=true; protect 4-6 rw-"},
		{"remap growing in place",
			func(t *testing.T, s *Space) { mustMap(t, s, 0, 4, rw) },
			func(s *Space) error { _, err := s.Remap(tbase, 4*pg, 6*pg, 0, 0); return err },
			"protect 4-6 rw-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forConfigs(t, func(t *testing.T, mode LockMode, recycle bool) {
				s := newSpace(t, mode, recycle, nil)
				if c.setup != nil {
					c.setup(t, s)
				}
				var r recordingObserver
				if err := s.SetObserver(&r); err != nil {
					t.Fatal(err)
				}
				defer s.SetObserver(nil)
				if err := c.op(s); err != nil {
					t.Fatal(err)
				}
				got := strings.Join(r.calls, "; ")
				if want := c.want; got != want {
					t.Errorf("observer heard %q, want %q (layout %s)", got, want, layout(s))
				}
			})
		})
	}
}

func mustProtect(t testing.TB, s *Space, page, pages uint64, prot Prot) {
	t.Helper()
	if err := s.Protect(tbase+page*pg, pages*pg, prot); err != nil {
		t.Fatalf("Protect(%d, %d): %v", page, pages, err)
	}
}

// orderingObserver is a recordingObserver that is also an Orderer.
type orderingObserver struct {
	recordingObserver
	s       *Space
	orders  int
	lockErr bool
}

func (o *orderingObserver) Order() {
	o.orders++
	if o.s.lock.WriteHeld() {
		o.lockErr = true // Order must run before the session takes the lock
	}
	o.calls = append(o.calls, "order")
}

// TestOrdererRunsBeforeEveryWriteSession: an Orderer's Order runs once
// before each write session, before the space lock is taken (it may wait
// for sessions of its own), and never for a fault or a fork's child.
func TestOrdererRunsBeforeEveryWriteSession(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, recycle bool) {
		s := newSpace(t, mode, recycle, nil)
		o := &orderingObserver{s: s}
		if err := s.SetObserver(o); err != nil {
			t.Fatal(err)
		}
		defer s.SetObserver(nil)
		steps := []struct {
			name string
			op   func() error
			want string
		}{
			{"map", func() error { _, err := s.Map(tbase, 8*pg, rw, priv|MapFixed); return err }, "order; protect 0-8 rw-"},
			{"fault", func() error { return s.Fault(tbase, Write) }, ""},
			{"protect", func() error { return s.Protect(tbase+2*pg, pg, ro) }, "order; protect 2-3 r--"},
			{"dontneed", func() error { return s.Advise(tbase, pg, AdviseDontNeed) }, "order; zap 0-1 unmapped=false"},
			{"remap", func() error {
				_, err := s.Remap(tbase+6*pg, 2*pg, 2*pg, RemapMayMove|RemapFixed, tbase+10*pg)
				return err
			}, "order; move 6-8 to 10 rw-; zap 6-8 unmapped=true; protect 10-12 rw-"},
			{"unmap", func() error { return s.Unmap(tbase+10*pg, 2*pg) }, "order; zap 10-12 unmapped=true"},
			{"fork", func() error {
				c, err := s.Fork()
				if err == nil {
					c.Close()
				}
				return err
			}, "order"},
		}
		for _, st := range steps {
			o.calls = nil
			if err := st.op(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if got := strings.Join(o.calls, "; "); got != st.want {
				t.Errorf("%s: observer heard %q, want %q", st.name, got, st.want)
			}
		}
		if o.lockErr {
			t.Error("Order ran with the space lock held")
		}
	})
}
