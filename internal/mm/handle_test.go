package mm

import (
	"testing"
	"time"

	"github.com/vmspace/vmspace/internal/arealock"
)

// TestLockAreaKeepsAreaStable: while a caller holds an area through
// LockArea, a writer that must change that area waits for it, writers
// elsewhere do not, and Close waits too (no one can hold an area of a space
// that is gone).
func TestLockAreaKeepsAreaStable(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	mustMap(t, s, 0, 4, rw)
	h, err := s.LockArea(tbase + pg)
	if err != nil {
		t.Fatal(err)
	}
	if h.Start() != tbase || h.End() != tbase+4*pg || h.Prot() != rw {
		t.Fatalf("handle [%#x,%#x) %v", h.Start(), h.End(), h.Prot())
	}
	// Unrelated layout changes go on while the area is held. They run in
	// another goroutine: the holder itself must not take the space lock
	// (LockArea's rule, which the lock validator enforces).
	beside := make(chan error, 1)
	go func() {
		if _, err := s.Map(tbase+10*pg, pg, ro, priv|MapFixed); err != nil {
			beside <- err
			return
		}
		beside <- s.Unmap(tbase+10*pg, pg)
	}()
	if err := deadline(t, beside, "layout change beside a held area"); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{}, 1)
	arealock.SetWaitHook(func(*arealock.Lock) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	defer arealock.SetWaitHook(nil)
	done := make(chan error, 1)
	go func() { done <- s.Protect(tbase, pg, ro) }()
	deadline(t, waiting, "writer waiting for the handle")
	select {
	case <-done:
		t.Fatal("the writer changed a held area")
	default:
	}
	if h.Start() != tbase || h.End() != tbase+4*pg {
		t.Fatal("held area changed")
	}
	h.Unlock()
	if err := deadline(t, done, "writer"); err != nil {
		t.Fatal(err)
	}
	if got := layout(s); got != "0-1 r--p, 1-4 rw-p" {
		t.Errorf("layout %q", got)
	}

	// Close waits for a held area as well.
	h, err = s.LockArea(tbase + 2*pg)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	deadline(t, waiting, "Close waiting for the handle")
	select {
	case <-closed:
		t.Fatal("Close freed a held area")
	default:
	}
	a := h.a
	h.Unlock()
	deadline(t, closed, "Close")
	if a.Live() || a.LockCount() != 0 {
		t.Error("area not freed by Close")
	}
	if _, err := s.LockArea(tbase); err != ErrClosed {
		t.Errorf("LockArea after Close: %v", err)
	}
}

// TestLockAreaWholeSpace: in whole-space mode a handle holds the space
// lock for reading, so writers wait for it.
func TestLockAreaWholeSpace(t *testing.T) {
	s := newSpace(t, WholeSpace, true, nil)
	mustMap(t, s, 0, 1, rw)
	h, err := s.LockArea(tbase)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Map(tbase+8*pg, pg, rw, priv|MapFixed)
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("a writer ran while a whole-space handle was held")
	case <-time.After(50 * time.Millisecond):
		// The writer is blocked on the space lock, as expected; this
		// wait only gives it a chance to run if the lock were missing.
	}
	h.Unlock()
	if err := deadline(t, done, "writer"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LockArea(tbase + 4*pg); faultCode(err) != MapErr {
		t.Errorf("LockArea on a hole: %v", err)
	}
}

// TestDontNeedUnderAreaLock: in per-area mode, dropping pages inside one
// area takes only that area's read lock, so it goes on beside a reader
// holding the area (a writer would have to wait) and takes no space lock.
func TestDontNeedUnderAreaLock(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	mustMap(t, s, 0, 4, rw)
	for i := uint64(0); i < 4; i++ {
		mustFault(t, s, i, Write)
	}
	h, err := s.LockArea(tbase)
	if err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	done := make(chan error, 1)
	go func() { done <- s.Advise(tbase+pg, 2*pg, AdviseDontNeed) }()
	if err := deadline(t, done, "dontneed beside a reader"); err != nil {
		t.Fatal(err)
	}
	h.Unlock()
	if st := s.Stats(); st.SpaceLocked != before.SpaceLocked {
		t.Errorf("dontneed took the space lock: %+v", st)
	}
	if got := snapshotContents(s, 4); got != "00 . . 00 " {
		t.Errorf("contents %q", got)
	}
	// Spanning two areas, it takes the slow path and still works.
	mustMap(t, s, 4, 1, ro)
	mustFault(t, s, 3, Write)
	if err := s.Advise(tbase+3*pg, 2*pg, AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	if got := snapshotContents(s, 5); got != "00 . . . . " {
		t.Errorf("contents %q", got)
	}
}
