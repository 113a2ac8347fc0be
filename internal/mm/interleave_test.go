package mm

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vmspace/vmspace/internal/arealock"
	"github.com/vmspace/vmspace/internal/frames"
)

// These tests force, through the hook points, each race of section 4 of
// docs/protocol.md that applies in Go (the labels a-1 ... e are its).
// Each names the check it covers; docs/mutations.md records that removing
// the check makes the test fail.

// pauser stops the first goroutine that reaches a hook point once armed,
// hands its area to the test, and waits until the test resumes it.
type pauser struct {
	point  HookPoint
	armed  atomic.Bool
	paused chan *Area
	resume chan struct{}
}

func newPauser(p HookPoint) *pauser {
	return &pauser{point: p, paused: make(chan *Area, 1), resume: make(chan struct{})}
}

func (p *pauser) at(point HookPoint, a *Area) {
	if point == p.point && p.armed.CompareAndSwap(true, false) {
		p.paused <- a
		<-p.resume
	}
}

// deadline fails the test if ch does not deliver in time: a stuck
// protocol (a writer never woken) shows as a hang, not as slowness.
func deadline[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s: stuck\n%s", what, buf[:runtime.Stack(buf, true)])
	}
	var zero T
	return zero
}

func areaAtAddr(s *Space, addr uint64) *Area {
	it, ok := s.tree.Find(addr)
	if !ok {
		return nil
	}
	return it.Val.a
}

// TestRaceRecycledOtherRange (§4 a-1): the area is freed and reused at
// another range of the same space between the lookup and the lock. The
// reader's lock succeeds, so only the range check after locking stops it
// from faulting an address that is no longer mapped.
func TestRaceRecycledOtherRange(t *testing.T) {
	p := newPauser(HookAfterLookup)
	var reuse atomic.Pointer[Area]
	var kept atomic.Pointer[Area]
	s := newSpace(t, PerArea, true, &Hooks{At: p.at, Alloc: func() *Area { return reuse.Swap(nil) },
		Keep: func(a *Area) bool { return a == kept.Load() }})
	mustMap(t, s, 0, 1, rw)
	p.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- s.Fault(tbase, Write) }()
	a := deadline(t, p.paused, "reader reaching the lookup hook")
	kept.Store(a)
	if err := s.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	reuse.Store(a)
	mustMap(t, s, 8, 1, rw)
	if areaAtAddr(s, tbase+8*pg) != a {
		t.Fatal("the test did not manage to recycle the area")
	}
	before := s.Stats()
	close(p.resume)
	err := deadline(t, done, "fault")
	if faultCode(err) != MapErr {
		t.Errorf("fault on an unmapped address whose area was recycled: %v, want SEGV_MAPERR", err)
	}
	if st := s.Stats(); st.Abort == before.Abort {
		t.Errorf("the lockless path did not abort: %+v", st)
	}
	if s.pt.Lookup((tbase-s.base)>>pageShift) != frames.None {
		t.Error("a page was made present where nothing is mapped")
	}
}

// TestRaceRecycledOtherSpace (§4 a-1, a-3): the area is freed and reused
// by another space at the same range while the reader locks it. Stamp and
// range look fine; only the same-space check stops the reader.
func TestRaceRecycledOtherSpace(t *testing.T) {
	p := newPauser(HookAfterLookup)
	var reuse atomic.Pointer[Area]
	var kept atomic.Pointer[Area]
	s1 := newSpace(t, PerArea, true, &Hooks{At: p.at, Keep: func(a *Area) bool { return a == kept.Load() }})
	s2 := newSpace(t, PerArea, true, &Hooks{Alloc: func() *Area { return reuse.Swap(nil) }})
	mustMap(t, s1, 0, 1, rw)
	p.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- s1.Fault(tbase, Write) }()
	a := deadline(t, p.paused, "reader reaching the lookup hook")
	kept.Store(a)
	if err := s1.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	reuse.Store(a)
	mustMap(t, s2, 0, 1, rw)
	if areaAtAddr(s2, tbase) != a {
		t.Fatal("the test did not manage to recycle the area into the other space")
	}
	close(p.resume)
	if err := deadline(t, done, "fault"); faultCode(err) != MapErr {
		t.Errorf("fault in s1 through an area now owned by s2: %v, want SEGV_MAPERR", err)
	}
	if s1.pt.Lookup((tbase-s1.base)>>pageShift) != frames.None {
		t.Error("s1 got a page where it maps nothing")
	}
	if a.LockCount() != 1 {
		t.Errorf("the foreign reference was not dropped: count %d", a.LockCount())
	}
}

// TestRaceForeignWake (§4 a-4): a reader holds a transient reference on an
// area that was recycled into another space, whose writer is waiting for
// readers to drain. The reader's release must wake that space's writer (it
// copies the owner before dropping), or the writer sleeps forever.
func TestRaceForeignWake(t *testing.T) {
	p := newPauser(HookAfterInc)
	var reuse atomic.Pointer[Area]
	var kept atomic.Pointer[Area]
	s1 := newSpace(t, PerArea, true, &Hooks{Keep: func(a *Area) bool { return a == kept.Load() }})
	s2 := newSpace(t, PerArea, true, &Hooks{Alloc: func() *Area { return reuse.Swap(nil) }})
	mustMap(t, s1, 0, 1, rw)
	p.armed.Store(true)

	// The reader finds the area and stops; the area is recycled into
	// s2; the reader goes on and stops again right after its increment.
	look := newPauser(HookAfterLookup)
	s1.hooks.At = func(pt HookPoint, a *Area) { look.at(pt, a); p.at(pt, a) }
	look.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- s1.Fault(tbase, Write) }()
	a := deadline(t, look.paused, "reader reaching the lookup hook")
	kept.Store(a)
	if err := s1.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	reuse.Store(a)
	mustMap(t, s2, 0, 1, rw)
	if areaAtAddr(s2, tbase) != a {
		t.Fatal("not recycled")
	}
	close(look.resume)
	deadline(t, p.paused, "reader reaching the increment hook")

	// s2's writer now unmaps the area and must wait for our reader.
	waiting := make(chan struct{}, 1)
	arealock.SetWaitHook(func(*arealock.Lock) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	defer arealock.SetWaitHook(nil)
	unmapped := make(chan error, 1)
	go func() { unmapped <- s2.Unmap(tbase, pg) }()
	deadline(t, waiting, "s2's writer waiting for the reader")
	close(p.resume)
	if err := deadline(t, unmapped, "s2's writer (woken by the foreign reader's release)"); err != nil {
		t.Fatal(err)
	}
	if err := deadline(t, done, "fault"); faultCode(err) != MapErr {
		t.Errorf("fault: %v, want SEGV_MAPERR", err)
	}
}

// TestRaceStampAfterEarlyCheck (§4 b): a writer write-locks the area while
// a reader sits between its early stamp check and its increment. The
// reader's increment then succeeds, so only the authoritative stamp check
// after it, with both values loaded afresh, keeps it out.
func TestRaceStampAfterEarlyCheck(t *testing.T) {
	p := newPauser(HookAfterEarlyCheck)
	var inSession, violated atomic.Bool
	var s *Space
	var abortsBefore uint64
	hooks := &Hooks{At: func(pt HookPoint, a *Area) {
		p.at(pt, a)
		switch pt {
		case HookReadLocked:
			if inSession.Load() {
				violated.Store(true)
			}
		case HookBeforeCommit:
			if !inSession.Load() {
				return
			}
			// The area is stamped; let the reader go on, and wait
			// until it has either locked (a violation) or given up.
			close(p.resume)
			for start := time.Now(); s.Stats().Abort == abortsBefore && !violated.Load(); runtime.Gosched() {
				if time.Since(start) > 20*time.Second {
					buf := make([]byte, 1<<20)
					t.Errorf("the reader neither locked nor gave up\n%s", buf[:runtime.Stack(buf, true)])
					return
				}
			}
		}
	}}
	s = newSpace(t, PerArea, true, hooks)
	mustMap(t, s, 0, 3, rw)
	p.armed.Store(true)
	done := make(chan error, 1)
	// Fault in the part of the area that the split leaves in the same
	// object, so that the range check cannot hide a missing stamp check.
	go func() { done <- s.Fault(tbase, Read) }()
	deadline(t, p.paused, "reader reaching the early-check hook")
	abortsBefore = s.Stats().Abort
	inSession.Store(true)
	if err := s.Protect(tbase, pg, ro); err != nil {
		t.Fatal(err)
	}
	inSession.Store(false)
	if err := deadline(t, done, "fault"); err != nil {
		t.Fatal(err)
	}
	if violated.Load() {
		t.Error("a reader held the area's read lock while the area was write-locked")
	}
}

// TestRaceDetachWaitsForReader (§4 c, test 2): a reader's transient
// increment lands between the writer's stamp and its detach, so the
// detach's 1->0 is really 2->1. Detach must wait for the reader and end at
// 0; the reader must fail and fall back.
func TestRaceDetachWaitsForReader(t *testing.T) {
	early := newPauser(HookAfterEarlyCheck)
	inc := newPauser(HookAfterInc)
	var s *Space
	var victim atomic.Pointer[Area]
	hooks := &Hooks{At: func(pt HookPoint, a *Area) {
		early.at(pt, a)
		inc.at(pt, a)
		if pt == HookBeforeDetach && a == victim.Load() {
			// Stamped, not yet detached: let the reader increment.
			inc.armed.Store(true)
			close(early.resume)
			deadline(t, inc.paused, "reader incrementing")
		}
	}}
	s = newSpace(t, PerArea, true, hooks)
	mustMap(t, s, 0, 1, rw)
	victim.Store(areaAtAddr(s, tbase))
	early.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- s.Fault(tbase, Write) }()
	deadline(t, early.paused, "reader reaching the early check")

	waited := make(chan struct{}, 1)
	arealock.SetWaitHook(func(*arealock.Lock) {
		select {
		case waited <- struct{}{}:
			close(inc.resume) // the detacher sleeps: release the reader
		default:
		}
	})
	defer arealock.SetWaitHook(nil)
	if err := s.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	default:
		t.Error("detach did not wait for the reader it found")
	}
	if err := deadline(t, done, "fault"); faultCode(err) != MapErr {
		t.Errorf("fault: %v, want SEGV_MAPERR", err)
	}
	if c := victim.Load().LockCount(); c != 0 {
		t.Errorf("detached area's count %d, want 0", c)
	}
}

// TestBulkUnlock (§4 e): one write session locks several areas; ending it
// unlocks them all with one increment, and readers get in at once.
func TestBulkUnlock(t *testing.T) {
	var s *Space
	var locked []*Area
	hooks := &Hooks{At: func(pt HookPoint, _ *Area) {
		if pt == HookBeforeCommit {
			snap := s.tree.Snapshot()
			snap.Ascend(0, func(it treeItem) bool {
				if it.Val.a.lock.WriteLocked(&s.lock) {
					locked = append(locked, it.Val.a)
				}
				return true
			})
			snap.Release()
		}
	}}
	s = newSpace(t, PerArea, true, hooks)
	for i := uint64(0); i < 4; i++ {
		mustMap(t, s, 2*i, 1, rw)
	}
	locked = nil
	if err := s.Protect(tbase, 7*pg, ro); !isErrno(err, syscall.ENOMEM) {
		t.Fatalf("protect over holes: %v", err) // the first area changes, then the hole
	}
	if len(locked) != 1 {
		t.Fatalf("%d areas write-locked in the session, want 1", len(locked))
	}
	locked = nil
	if err := s.Protect(tbase+2*pg, pg, ro); err != nil {
		t.Fatal(err)
	}
	mustMap(t, s, 3, 1, ro)
	mustMap(t, s, 5, 1, rw)
	mustMap(t, s, 7, 1, rw)
	locked = nil
	if err := s.Protect(tbase+2*pg, 6*pg, ProtRead|ProtExec); err != nil {
		t.Fatal(err)
	}
	if len(locked) < 2 {
		t.Fatalf("only %d areas write-locked in a multi-area session", len(locked))
	}
	for _, a := range locked {
		if a.lock.WriteLocked(&s.lock) {
			t.Errorf("area still write-locked after the session ended")
		}
	}
	before := s.Stats()
	for pgn := uint64(2); pgn < 8; pgn++ {
		mustFault(t, s, pgn, Read)
	}
	if st := s.Stats(); st.Abort != before.Abort || st.Success-before.Success != 6 {
		t.Errorf("readers did not all get in after the bulk unlock: %+v -> %+v", before, st)
	}
}

// TestFreedAreaStaysLocked (§4 a-3, Vlastimil Babka's race): an area freed
// in a session stays write-locked by its stamp until the session ends; the
// free must not reset the stamp.
func TestFreedAreaStaysLocked(t *testing.T) {
	var s *Space
	var freed []*Area
	var checked int
	hooks := &Hooks{
		Free: func(a *Area) { freed = append(freed, a) },
		At: func(pt HookPoint, _ *Area) {
			if pt != HookAfterCommit {
				return
			}
			for _, a := range freed {
				checked++
				if !a.lock.WriteLocked(&s.lock) {
					t.Error("a freed area lost its write lock before the session ended")
				}
				if a.LockCount() != 0 {
					t.Error("a freed area is attached")
				}
			}
		},
	}
	s = newSpace(t, PerArea, true, hooks)
	mustMap(t, s, 0, 3, rw)
	mustMap(t, s, 4, 1, ro)
	if err := s.Unmap(tbase, 8*pg); err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("nothing was freed")
	}
}

// TestUnmapFailureReattaches (§4 c, test 1): the tree step of Unmap fails
// after the areas were detached. Meanwhile readers only miss or abort;
// after the failure the areas are attached again, the layout, contents and
// locks are exactly as before, and the pending fault succeeds.
func TestUnmapFailureReattaches(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		var s *Space
		var fail atomic.Bool
		done := make(chan error, 1)
		hooks := &Hooks{TreeAllocFail: func() bool {
			if !fail.CompareAndSwap(true, false) {
				return false
			}
			// The areas are detached now. A fault on them must
			// not get in; it falls back and waits for us.
			before := s.Stats()
			go func() { done <- s.Fault(tbase+pg, Write) }()
			for {
				st := s.Stats()
				// It finds the area stamped (abort) or, had it passed
				// the stamp check earlier, detached (miss); either
				// way it falls back and blocks on the space lock.
				if st.SpaceLocked > before.SpaceLocked {
					break
				}
				runtime.Gosched()
			}
			if st := s.Stats(); st.Success != before.Success {
				t.Error("a fault succeeded on a detached area")
			}
			return true
		}}
		s = newSpace(t, mode, rec, hooks)
		mustMap(t, s, 0, 2, rw)
		mustMap(t, s, 3, 1, ro)
		if _, err := s.WriteAt([]byte{0x42}, tbase); err != nil {
			t.Fatal(err)
		}
		lay, con := layout(s), snapshotContents(s, 4)
		fail.Store(true)
		if err := s.Unmap(tbase, 4*pg); !isErrno(err, syscall.ENOMEM) {
			t.Fatalf("unmap with a failing tree: %v", err)
		}
		if fail.Load() {
			t.Fatal("the failpoint was never reached")
		}
		if err := deadline(t, done, "fault"); err != nil {
			t.Errorf("fault after the failed unmap: %v", err)
		}
		if got := layout(s); got != lay {
			t.Errorf("layout %q, want %q", got, lay)
		}
		if got := snapshotContents(s, 1); got != con[:len(got)] {
			t.Errorf("contents %q, want %q", got, con)
		}
		if err := s.CheckInvariants(true); err != nil {
			t.Error(err)
		}
	})
}

// TestRaceReusedWhileLocking (§4 a-2): between the reader's early check
// and its increment, the area is freed and reallocated by another space,
// which has initialised it but not attached it yet. The reader's
// increment must fail on the zero count (a miss), and its retry must not
// find the area again.
func TestRaceReusedWhileLocking(t *testing.T) {
	p := newPauser(HookAfterEarlyCheck)
	var kept, reuse atomic.Pointer[Area]
	s1 := newSpace(t, PerArea, true, &Hooks{At: p.at, Keep: func(a *Area) bool { return a == kept.Load() }})
	done := make(chan error, 1)
	var during atomic.Bool
	var s2 *Space
	s2 = newSpace(t, PerArea, true, &Hooks{
		Alloc: func() *Area { return reuse.Swap(nil) },
		TreeAllocFail: func() bool {
			a := kept.Load()
			if a == nil || !during.CompareAndSwap(true, false) {
				return false
			}
			// s2 owns the area now: initialised, stamped, detached.
			if a.space.Load() != s2 || a.LockCount() != 0 {
				t.Error("the area is not in s2's hands yet")
			}
			close(p.resume)
			if err := deadline(t, done, "fault"); faultCode(err) != MapErr {
				t.Errorf("fault: %v, want SEGV_MAPERR", err)
			}
			return false
		},
	})
	mustMap(t, s1, 0, 1, rw)
	p.armed.Store(true)
	go func() { done <- s1.Fault(tbase, Read) }()
	a := deadline(t, p.paused, "reader after its early check")
	kept.Store(a)
	if err := s1.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	before := s1.Stats()
	reuse.Store(a)
	during.Store(true)
	mustMap(t, s2, 0, 1, rw)
	if during.Load() {
		t.Fatal("the interleaving was not forced")
	}
	if st := s1.Stats(); st.Miss == before.Miss {
		t.Errorf("the reader did not miss on the detached area: %+v", st)
	}
	if areaAtAddr(s2, tbase) != a || a.LockCount() != 1 {
		t.Error("s2's area damaged by the reader")
	}
}
