package mm

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
)

// Fault injection: the tree node allocation failpoint (Hooks.TreeAllocFail)
// is fired at the k-th allocation of one layout call, for k = 1, 2, ...
// until the call completes without reaching it. After each injected
// failure the call must return ENOMEM and leave the space exactly as it
// was: the same areas (the same objects, with the same fields), the same
// layout, the same pages and bytes, every area attached, unlocked and
// without readers (CheckInvariants(true)). Then the call is repeated
// without failure and must give what it gives on a space that never
// failed.
//
// The calls cover every layout path: munmap across many areas (the
// failure lands before, between and after the areas are detached),
// mprotect across many areas with splits at both ends and merges, a fixed
// mmap over several areas, mremap moves and growth, and madvise flag
// changes with splits and merges.

const (
	fpBase  = 0x30000000
	fpAreas = 240 // two pages each: a tree of two levels and 8 or more leaves
)

func fpArea(i int) uint64 { return fpBase + uint64(i)*2*PageSize }

// fpSetup maps fpAreas two-page areas that do not merge (alternating
// protections, a shared one now and then), writes to the writable ones and
// read-faults the others, so that pages, contents and anon_vmas all exist.
func fpSetup(t testing.TB, s *Space) {
	for i := range fpAreas {
		prot, flags := ProtRead|ProtWrite, MapPrivate|MapAnonymous|MapFixed
		if i%2 == 1 {
			prot = ProtRead
		}
		if i%7 == 3 {
			flags = MapShared | MapAnonymous | MapFixed
		}
		if _, err := s.Map(fpArea(i), 2*PageSize, prot, flags); err != nil {
			t.Fatal(err)
		}
		if prot&ProtWrite != 0 {
			if _, err := s.WriteAt([]byte{byte(i), 0xa5, byte(i)}, fpArea(i)+PageSize+17); err != nil {
				t.Fatal(err)
			}
		} else if err := s.Fault(fpArea(i), Read); err != nil {
			t.Fatal(err)
		}
	}
}

// fpCall is one call under test.
type fpCall struct {
	name string
	run  func(s *Space) error
}

var fpCalls = []fpCall{
	{"unmap across 110 areas", func(s *Space) error {
		return s.Unmap(fpArea(10)+PageSize, fpArea(120)-fpArea(10))
	}},
	{"protect across 80 areas with splits and merges", func(s *Space) error {
		return s.Protect(fpArea(10)+PageSize, fpArea(90)-fpArea(10), ProtRead|ProtWrite)
	}},
	{"protect one area into its neighbours", func(s *Space) error {
		return s.Protect(fpArea(21), 2*PageSize, ProtRead|ProtWrite) // 20 and 22 are rw-
	}},
	{"fixed map over 60 areas", func(s *Space) error {
		_, err := s.Map(fpArea(20)+PageSize, fpArea(80)-fpArea(20), ProtRead|ProtExec, MapPrivate|MapAnonymous|MapFixed)
		return err
	}},
	{"fixed map merging with both neighbours", func(s *Space) error {
		_, err := s.Map(fpArea(33), 2*PageSize, ProtRead|ProtWrite, MapPrivate|MapAnonymous|MapFixed)
		return err
	}},
	{"remap move onto two areas", func(s *Space) error {
		_, err := s.Remap(fpArea(12), 2*PageSize, 2*PageSize, RemapMayMove|RemapFixed, fpArea(200)+PageSize)
		return err
	}},
	{"remap grow in place", func(s *Space) error {
		_, err := s.Remap(fpArea(fpAreas-1), 2*PageSize, 6*PageSize, 0, 0)
		return err
	}},
	{"remap shrink", func(s *Space) error {
		_, err := s.Remap(fpArea(40), 2*PageSize, PageSize, 0, 0)
		return err
	}},
	{"advise dontfork across 70 areas", func(s *Space) error {
		return s.Advise(fpArea(5)+PageSize, fpArea(75)-fpArea(5), AdviseDontFork)
	}},
}

// fpAreaState is everything about an area that an undone call must restore.
type fpAreaState struct {
	a          *Area
	start, end uint64
	pgoff      uint64
	flags      Flags
	anon       *anonVMA
	anonChain  int32
	shm        *shmObject
	count      uint32
	live       bool
}

// fpState is the whole observable and internal state of the space.
type fpState struct {
	layoutSnap
	areas []fpAreaState
	stats Stats
}

func fpSnap(s *Space) fpState {
	st := fpState{layoutSnap: takeLayout(s, fpBase, fpArea(fpAreas+8)), stats: s.Stats()}
	snap := s.tree.Snapshot()
	defer snap.Release()
	snap.Ascend(0, func(it treeItem) bool {
		a := it.Val.a
		st.areas = append(st.areas, fpAreaState{a, a.start, a.end, a.pgoff, a.flags, a.anon.Load(), a.anonChain, a.shm, a.lock.Count(), a.live.Load()})
		return true
	})
	return st
}

func (a fpState) diff(b fpState) string {
	if d := a.layoutSnap.diff(b.layoutSnap); d != "" {
		return d
	}
	if !slices.Equal(a.areas, b.areas) {
		for i := range min(len(a.areas), len(b.areas)) {
			if a.areas[i] != b.areas[i] {
				return fmt.Sprintf("area %d: %+v became %+v", i, a.areas[i], b.areas[i])
			}
		}
		return fmt.Sprintf("%d areas became %d", len(a.areas), len(b.areas))
	}
	if a.stats != b.stats {
		return fmt.Sprintf("stats %+v became %+v", a.stats, b.stats)
	}
	return ""
}

// fpSpace is a space whose failpoint fires at the armed call's k-th
// allocation, and which counts the detaches that came before it.
type fpSpace struct {
	*Space
	armed      bool
	k, allocs  int
	detaches   int // detaches in the armed call before the failure
	failedLate bool
}

func newFpSpace(t testing.TB, mode LockMode, recycle bool) *fpSpace {
	f := &fpSpace{}
	c := DefaultConfig()
	c.Mode, c.Recycle = mode, recycle
	c.Hooks = &Hooks{
		TreeAllocFail: func() bool {
			if !f.armed {
				return false
			}
			f.allocs++
			if f.allocs == f.k {
				f.failedLate = f.detaches > 0
				return true
			}
			return false
		},
		At: func(p HookPoint, a *Area) {
			if f.armed && p == HookBeforeDetach && f.allocs < f.k {
				f.detaches++
			}
		},
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	f.Space = s
	fpSetup(t, s)
	return f
}

// fpExercise runs call with the failpoint at every allocation in turn and
// returns how many failures were injected and how many of them came after
// the call had detached areas.
func fpExercise(t *testing.T, mode LockMode, recycle bool, call fpCall) (injected, late int) {
	ctl := newFpSpace(t, mode, recycle)
	defer ctl.Close()
	if err := call.run(ctl.Space); err != nil {
		t.Fatalf("%s without failure: %v", call.name, err)
	}
	want := fpSnap(ctl.Space)
	for k := 1; ; k++ {
		f := newFpSpace(t, mode, recycle)
		before := fpSnap(f.Space)
		f.armed, f.k = true, k
		err := call.run(f.Space)
		f.armed = false
		if f.allocs < k {
			// The call needed fewer than k allocations: it ran to the end.
			if err != nil {
				t.Fatalf("%s: failed with %v without an injected failure", call.name, err)
			}
			if d := want.layoutSnap.diff(fpSnap(f.Space).layoutSnap); d != "" {
				t.Fatalf("%s: result differs from the control's: %s", call.name, d)
			}
			f.Close()
			return injected, late
		}
		injected++
		if f.failedLate {
			late++
		}
		if !errors.Is(err, syscall.ENOMEM) {
			t.Fatalf("%s: allocation %d failed, call returned %v, want ENOMEM", call.name, k, err)
		}
		if d := before.diff(fpSnap(f.Space)); d != "" {
			t.Fatalf("%s: allocation %d failed (after %d detaches) and the space changed: %s", call.name, k, f.detaches, d)
		}
		if err := f.CheckInvariants(true); err != nil {
			t.Fatalf("%s: allocation %d failed: invariants: %v", call.name, k, err)
		}
		// The space still works: the same call now succeeds and gives
		// what the control got.
		if err := call.run(f.Space); err != nil {
			t.Fatalf("%s: after the failure at allocation %d, the call fails: %v", call.name, k, err)
		}
		if d := want.layoutSnap.diff(fpSnap(f.Space).layoutSnap); d != "" {
			t.Fatalf("%s: after the failure at allocation %d, the result differs from the control's: %s", call.name, k, d)
		}
		if err := f.CheckInvariants(true); err != nil {
			t.Fatalf("%s: after the retry: invariants: %v", call.name, err)
		}
		f.Close()
	}
}

func TestFailpoints(t *testing.T) {
	total, totalLate := 0, 0
	for _, cfg := range []struct {
		mode    LockMode
		recycle bool
	}{{PerArea, true}, {PerArea, false}, {WholeSpace, true}, {WholeSpace, false}} {
		for _, call := range fpCalls {
			t.Run(fmt.Sprintf("%v/recycle=%v/%s", cfg.mode, cfg.recycle, call.name), func(t *testing.T) {
				n, late := fpExercise(t, cfg.mode, cfg.recycle, call)
				if n == 0 {
					t.Fatalf("%s made no tree allocation: nothing was injected", call.name)
				}
				total += n
				totalLate += late
				t.Logf("%d failpoints, %d of them after areas were detached", n, late)
			})
		}
	}
	t.Logf("%d failpoints exercised in all, %d after areas were detached", total, totalLate)
	if totalLate == 0 {
		t.Errorf("no failure was injected after a detach")
	}
}
