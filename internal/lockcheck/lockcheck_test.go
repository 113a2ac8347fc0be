//go:build vmspace_lockcheck

package lockcheck

import (
	"fmt"
	"strings"
	"testing"
)

// Each rule, broken on purpose, must make the validator panic. Every case
// runs in a goroutine of its own, because the validator's records are per
// goroutine and a case that panics leaves its goroutine's records behind.

// breaks runs fn in a new goroutine and returns what it panicked with
// ("" if it did not).
func breaks(fn func()) (msg string) {
	done := make(chan string)
	go func() {
		defer func() {
			r := recover()
			if r == nil {
				done <- ""
				return
			}
			done <- fmt.Sprint(r)
		}()
		fn()
	}()
	return <-done
}

func wantPanic(t *testing.T, substr string, fn func()) {
	t.Helper()
	msg := breaks(fn)
	if msg == "" {
		t.Fatalf("no panic; want one containing %q", substr)
	}
	if !strings.Contains(msg, substr) {
		t.Fatalf("panic %q; want one containing %q", msg, substr)
	}
}

// Distinct objects for each case: the validator keys its records by
// pointer.
type obj struct{ _ int }

func objs() (space, area *obj) { return new(obj), new(obj) }

func TestRule1BlockingSpaceLockUnderAreaReadLock(t *testing.T) {
	wantPanic(t, "while holding a read lock on area", func() {
		sl, a := objs()
		AreaRead(a, sl)
		SpaceRead(sl)
	})
	wantPanic(t, "while holding a read lock on area", func() {
		sl, a := objs()
		AreaRead(a, sl)
		SpaceWrite(new(obj)) // any space lock: it may be the area's own space
	})
	// A try-lock cannot wait, so it is allowed.
	if msg := breaks(func() {
		sl, a := objs()
		AreaRead(a, sl)
		SpaceTryRead(sl)
		SpaceReadRelease(sl)
		AreaReadRelease(a)
	}); msg != "" {
		t.Fatalf("try-lock under an area read lock: %s", msg)
	}
}

func TestRule2AreaWriteNeedsSpaceWrite(t *testing.T) {
	wantPanic(t, "write-locked without holding its space lock", func() {
		sl, a := objs()
		AreaWrite(a, sl)
	})
	wantPanic(t, "write-locked without holding its space lock", func() {
		sl, a := objs()
		SpaceRead(sl)
		AreaWrite(a, sl)
	})
	wantPanic(t, "write-locked without holding its space lock", func() {
		sl, a := objs()
		SpaceWrite(new(obj)) // another space's lock does not count
		AreaWrite(a, sl)
	})
	if msg := breaks(func() {
		sl, a := objs()
		SpaceWrite(sl)
		AreaWrite(a, sl)
		SpaceWriteRelease(sl)
	}); msg != "" {
		t.Fatalf("area write lock under the space write lock: %s", msg)
	}
}

func TestRule3OneSpaceLockAtATime(t *testing.T) {
	wantPanic(t, "already held for read", func() {
		sl, _ := objs()
		SpaceRead(sl)
		SpaceRead(sl)
	})
	wantPanic(t, "already held for write", func() {
		sl, _ := objs()
		SpaceWrite(sl)
		SpaceTryRead(sl)
	})
	wantPanic(t, "released for write but held for read", func() {
		sl, _ := objs()
		SpaceRead(sl)
		SpaceWriteRelease(sl)
	})
	wantPanic(t, "released for read but held for none", func() {
		sl, _ := objs()
		SpaceReadRelease(sl)
	})
}

func TestRule4ShadowExclusion(t *testing.T) {
	wantPanic(t, "admitted a reader while a writer or detacher excluded readers", func() {
		_, a := objs()
		ExcludeBegin(a)
		ReaderIn(a)
	})
	wantPanic(t, "exclusion began with 1 readers inside", func() {
		_, a := objs()
		ReaderIn(a)
		ExcludeBegin(a)
	})
	wantPanic(t, "two excluders at once", func() {
		_, a := objs()
		ExcludeBegin(a)
		ExcludeBegin(a)
	})
	wantPanic(t, "a reader left that never entered", func() {
		_, a := objs()
		ReaderOut(a)
	})
	wantPanic(t, "exclusion ended but 0 excluders", func() {
		_, a := objs()
		ExcludeEnd(a)
	})
	// Readers from other goroutines count too: the shadow is per area.
	_, a := objs()
	if msg := breaks(func() { ReaderIn(a) }); msg != "" {
		t.Fatal(msg)
	}
	wantPanic(t, "exclusion began with 1 readers inside", func() { ExcludeBegin(a) })
	if msg := breaks(func() { ReaderOut(a) }); msg != "" {
		t.Fatal(msg)
	}
}

func TestRule5NoAreaReadLockInWriteSession(t *testing.T) {
	wantPanic(t, "read-locked while holding space lock", func() {
		sl, a := objs()
		SpaceWrite(sl)
		AreaRead(a, sl)
	})
	wantPanic(t, "read-unlocked but not read-locked by this goroutine", func() {
		_, a := objs()
		AreaReadRelease(a)
	})
	// An area read lock taken in one goroutine is not released by another.
	sl, a := objs()
	if msg := breaks(func() { AreaRead(a, sl) }); msg != "" {
		t.Fatal(msg)
	}
	wantPanic(t, "read-unlocked but not read-locked by this goroutine", func() { AreaReadRelease(a) })
}

func TestRule6NothingHeldAfterACall(t *testing.T) {
	wantPanic(t, "still holds locks", func() {
		sl, _ := objs()
		SpaceRead(sl)
		AssertNoneHeld()
	})
	wantPanic(t, "still holds locks", func() {
		sl, a := objs()
		AreaRead(a, sl)
		AssertNoneHeld()
	})
	if msg := breaks(AssertNoneHeld); msg != "" {
		t.Fatal(msg)
	}
}

// Correct use leaves no record behind: the validator's tables stay as
// small as what is held right now, however long a run lasts.
func TestCorrectUseLeavesNoRecords(t *testing.T) {
	mu.Lock()
	g0, s0 := len(byG), len(shadows)
	mu.Unlock()
	msg := breaks(func() {
		sl, a := objs()
		SpaceWrite(sl)
		AreaWrite(a, sl)
		ExcludeBegin(a)
		ExcludeEnd(a)
		SpaceWriteRelease(sl)
		ReaderIn(a)
		AreaRead(a, sl)
		SpaceTryRead(sl)
		SpaceReadRelease(sl)
		AreaReadRelease(a)
		ReaderOut(a)
		SpaceRead(sl)
		SpaceReadRelease(sl)
		AssertNoneHeld()
	})
	if msg != "" {
		t.Fatal(msg)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(byG) != g0 || len(shadows) != s0 {
		t.Fatalf("records grew: goroutines %d -> %d, areas %d -> %d", g0, len(byG), s0, len(shadows))
	}
}
