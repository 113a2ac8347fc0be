package mm

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestQuietCheckForeignTransient is the torture's false alarm "fork:
// child: area [...] lock word 2, want 1 when quiet", forced. A stale
// lockless reader of space s1 found area A and stopped before its
// increment; s1 unmapped A, which was freed, and a Fork of another space
// got A from the pool for its child. The reader's increment then succeeds
// on the child's attached area (count 2) and holds it until it sees that A
// belongs to another space and puts the reference back, as the kernel's
// vma_start_read does. A quiet check of the child in that window must not
// call the reference a leak; it waits for it to drain.
func TestQuietCheckForeignTransient(t *testing.T) {
	early, inc := newPauser(HookAfterEarlyCheck), newPauser(HookAfterInc)
	var kept atomic.Pointer[Area]
	var keepA atomic.Pointer[Area]
	s1 := newSpace(t, PerArea, true, &Hooks{
		At:   func(p HookPoint, a *Area) { early.at(p, a); inc.at(p, a) },
		Keep: func(a *Area) bool { return a == keepA.Load() },
	})
	parent := newSpace(t, PerArea, true, &Hooks{Child: &Hooks{
		Alloc: func() *Area { return kept.Swap(nil) },
	}})
	mustMap(t, s1, 0, 1, rw)
	mustMap(t, parent, 0, 1, rw)
	mustFault(t, parent, 0, Write)
	a := areaAtAddr(s1, tbase)
	keepA.Store(a)
	early.armed.Store(true)
	rdone := make(chan error, 1)
	go func() { rdone <- s1.Fault(tbase, Read) }()
	deadline(t, early.paused, "stale reader before its increment")
	if err := s1.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	kept.Store(a) // freed, out of the pool: the child's next area
	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	if areaAtAddr(child, tbase) != a {
		t.Fatal("the child did not get the recycled area")
	}
	inc.armed.Store(true)
	close(early.resume)
	deadline(t, inc.paused, "stale reader holding its increment on the child's area")
	if c := a.LockCount(); c != 2 {
		t.Fatalf("lock word %d, want 2 (the child's 1 and the foreign transient reference)", c)
	}
	waiting := make(chan struct{}, 1)
	quietWaitHook = func(*Area) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	defer func() { quietWaitHook = nil }()
	cdone := make(chan error, 1)
	go func() { cdone <- child.CheckInvariants(true) }()
	select {
	case err := <-cdone:
		t.Errorf("quiet check during a foreign transient reference: %v, want it to wait for the reference", err)
		close(inc.resume)
	case <-waiting:
		close(inc.resume)
		if err := deadline(t, cdone, "quiet check"); err != nil {
			t.Errorf("quiet check after the foreign reference drained: %v", err)
		}
	}
	if err := deadline(t, rdone, "stale reader"); faultCode(err) != MapErr {
		t.Errorf("stale reader: %v, want SEGV_MAPERR (its area was unmapped)", err)
	}
	if err := child.CheckInvariants(true); err != nil {
		t.Error(err)
	}
}

// TestQuietCheckReportsLeak: a read reference that is never put back (a
// handle left locked stands for a leak) is still reported by the quiet
// check, once the wait for a transient reference runs out.
func TestQuietCheckReportsLeak(t *testing.T) {
	defer func(d time.Duration) { transientDrainBound = d }(transientDrainBound)
	transientDrainBound = 20 * time.Millisecond
	s := newSpace(t, PerArea, true, nil)
	mustMap(t, s, 0, 1, rw)
	h, err := s.LockArea(tbase)
	if err != nil {
		t.Fatal(err)
	}
	if h.spaceLocked {
		t.Fatal("LockArea fell back to the space lock")
	}
	// From another goroutine: the holder of an area read lock may not
	// block on the space lock (the validator's rule 1).
	errc := make(chan error, 1)
	go func() { errc <- s.CheckInvariants(true) }()
	err = deadline(t, errc, "quiet check")
	h.Unlock()
	if err == nil || !strings.Contains(err.Error(), "lock word 2, want 1 when quiet") {
		t.Fatalf("quiet check with a leaked read reference: %v", err)
	}
}
