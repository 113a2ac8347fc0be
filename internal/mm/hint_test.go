package mm

import (
	"sync/atomic"
	"testing"

	"github.com/vmspace/vmspace/internal/frames"
)

// The lookup hint (lookup.go) hands the fault path an area that may be any
// area at all by now: freed, recycled at another range, recycled into
// another space. These tests make the hint stale in each way and check that
// the validation after the try-lock turns it away and the tree decides.
// Unlike the race tests they need no pause: a stale hint stays stale until
// a lookup in its bucket overwrites it.

// hintRecorder records the areas the fault path took from the hint.
type hintRecorder struct{ got atomic.Pointer[Area] }

func (h *hintRecorder) at(p HookPoint, a *Area) {
	if p == HookAfterHint {
		h.got.Store(a)
	}
}

// TestHintRecycledOtherRange: the hinted area was unmapped and reused at
// another range of the same space, in the same 2 MiB bucket. Its lock
// succeeds (same space, attached, not write-locked); only the range check
// on the hint's path stops the fault from landing in the wrong area.
// Removing that check (m25) fails it.
func TestHintRecycledOtherRange(t *testing.T) {
	var rec hintRecorder
	var reuse, kept atomic.Pointer[Area]
	s := newSpace(t, PerArea, true, &Hooks{At: rec.at, Alloc: func() *Area { return reuse.Swap(nil) },
		Keep: func(a *Area) bool { return a == kept.Load() }})
	mustMap(t, s, 0, 1, rw)
	if err := s.Fault(tbase, Write); err != nil {
		t.Fatal(err)
	}
	a := areaAtAddr(s, tbase)
	if s.hint.at(tbase).Load() != a {
		t.Fatal("a successful lookup did not fill the hint")
	}
	kept.Store(a)
	if err := s.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	reuse.Store(a)
	mustMap(t, s, 8, 1, rw)
	if areaAtAddr(s, tbase+8*pg) != a || s.hint.at(tbase).Load() != a {
		t.Fatal("the test did not recycle the hinted area in its bucket")
	}
	err := s.Fault(tbase, Write)
	if rec.got.Load() != a {
		t.Fatal("the fault did not take the stale area from the hint")
	}
	if faultCode(err) != MapErr {
		t.Errorf("fault through a hint recycled at another range: %v, want SEGV_MAPERR", err)
	}
	if s.pt.Lookup((tbase-s.base)>>pageShift) != frames.None {
		t.Error("a page was made present where nothing is mapped")
	}
	if a.LockCount() != 1 {
		t.Errorf("the hint's read lock was not dropped: count %d", a.LockCount())
	}
	// The recycled area itself still faults, through the tree or the hint.
	if err := s.Fault(tbase+8*pg, Write); err != nil {
		t.Errorf("fault in the recycled area: %v", err)
	}
}

// TestHintRecycledOtherSpace: the hinted area now belongs to another space
// at the same range. The same-space check after the increment stops it, and
// the foreign reference is dropped.
func TestHintRecycledOtherSpace(t *testing.T) {
	var rec hintRecorder
	var reuse, kept atomic.Pointer[Area]
	s1 := newSpace(t, PerArea, true, &Hooks{At: rec.at, Keep: func(a *Area) bool { return a == kept.Load() }})
	s2 := newSpace(t, PerArea, true, &Hooks{Alloc: func() *Area { return reuse.Swap(nil) }})
	mustMap(t, s1, 0, 1, rw)
	if err := s1.Fault(tbase, Write); err != nil {
		t.Fatal(err)
	}
	a := areaAtAddr(s1, tbase)
	kept.Store(a)
	if err := s1.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	reuse.Store(a)
	mustMap(t, s2, 0, 1, rw)
	if areaAtAddr(s2, tbase) != a {
		t.Fatal("the test did not recycle the area into the other space")
	}
	err := s1.Fault(tbase, Write)
	if rec.got.Load() != a {
		t.Fatal("the fault did not take the foreign area from the hint")
	}
	if faultCode(err) != MapErr {
		t.Errorf("fault in s1 through a hint now owned by s2: %v, want SEGV_MAPERR", err)
	}
	if s1.pt.Lookup((tbase-s1.base)>>pageShift) != frames.None {
		t.Error("s1 got a page where it maps nothing")
	}
	if a.LockCount() != 1 {
		t.Errorf("the foreign reference was not dropped: count %d", a.LockCount())
	}
}

// TestHintDetached: the hinted area was unmapped and not reused: it is
// detached, the try-lock fails, and the tree says nothing is there.
func TestHintDetached(t *testing.T) {
	var rec hintRecorder
	var kept atomic.Pointer[Area]
	s := newSpace(t, PerArea, true, &Hooks{At: rec.at, Keep: func(a *Area) bool { return a == kept.Load() }})
	mustMap(t, s, 0, 1, rw)
	if err := s.Fault(tbase, Write); err != nil {
		t.Fatal(err)
	}
	a := areaAtAddr(s, tbase)
	kept.Store(a)
	if err := s.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	err := s.Fault(tbase, Read)
	if rec.got.Load() != a {
		t.Fatal("the fault did not take the detached area from the hint")
	}
	if faultCode(err) != MapErr {
		t.Errorf("fault through a detached hint: %v, want SEGV_MAPERR", err)
	}
	if a.LockCount() != 0 {
		t.Errorf("a detached area was incremented: count %d", a.LockCount())
	}
}

// TestHintShrunk: the hinted area is still this space's and attached, but a
// Protect split it and the faulting address now lies in the other piece, a
// different area with another protection. The range check sends the fault
// to the tree, and the answer follows the right area's protection.
func TestHintShrunk(t *testing.T) {
	var rec hintRecorder
	s := newSpace(t, PerArea, true, &Hooks{At: rec.at})
	mustMap(t, s, 0, 4, rw)
	if err := s.Fault(tbase, Write); err != nil {
		t.Fatal(err)
	}
	a := areaAtAddr(s, tbase)
	if err := s.Protect(tbase+2*pg, 2*pg, ro); err != nil {
		t.Fatal(err)
	}
	// Split_vma keeps the area at one end; fault at the other.
	addr, want := uint64(tbase+3*pg), AccErr // a kept the rw front
	if areaAtAddr(s, tbase) != a {
		addr, want = tbase+pg, FaultCode(0) // a is the ro back
	}
	if areaAtAddr(s, addr) == a {
		t.Fatal("the split left the hinted area over both pieces")
	}
	err := s.Fault(addr, Write)
	if rec.got.Load() != a {
		t.Fatal("the fault did not take the shrunk area from the hint")
	}
	switch {
	case want == 0 && err != nil:
		t.Errorf("write fault at %#x (read-write) through a stale hint: %v, want success", addr, err)
	case want != 0 && faultCode(err) != want:
		t.Errorf("write fault at %#x (read-only) through a stale hint: %v, want %v", addr, err, want)
	}
}
