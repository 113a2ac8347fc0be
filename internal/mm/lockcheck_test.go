//go:build vmspace_lockcheck

package mm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vmspace/vmspace/internal/lockcheck"
)

// The lock validator's rules, broken on purpose through the real locks of
// a space: each must panic, which shows that the locks report to the
// validator where they should (internal/lockcheck tests the rules
// themselves). Each case runs in a goroutine of its own (the validator's
// records are per goroutine) and cleans up after the panic.

const lcBase = 0x50000000

func lcSpace(t *testing.T) *Space {
	t.Helper()
	c := DefaultConfig()
	c.Mode = PerArea
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for i := range 3 {
		prot := ProtRead | ProtWrite
		if i == 1 {
			prot = ProtRead
		}
		if _, err := s.Map(lcBase+uint64(i)*PageSize, PageSize, prot, MapPrivate|MapAnonymous|MapFixed); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// lcBreak runs fn in a new goroutine, then cleanup in the same goroutine,
// and returns what fn panicked with.
func lcBreak(fn func(), cleanup func()) (msg string) {
	done := make(chan string)
	go func() {
		defer func() {
			r := recover()
			if cleanup != nil {
				cleanup()
			}
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

func lcWant(t *testing.T, substr string, fn, cleanup func()) {
	t.Helper()
	msg := lcBreak(fn, cleanup)
	if !strings.Contains(msg, substr) {
		t.Fatalf("panic %q; want one containing %q", msg, substr)
	}
}

// Rule 1: holding an area read lock (LockArea's lockless path), a call
// that blocks on the space lock.
func TestLockcheckMapUnderAreaReadLock(t *testing.T) {
	s := lcSpace(t)
	var h *Handle
	lcWant(t, "while holding a read lock on area", func() {
		var err error
		if h, err = s.LockArea(lcBase); err != nil || h.spaceLocked {
			panic(fmt.Sprintf("setup: lockless LockArea failed: %v", err))
		}
		_ = s.Unmap(lcBase+2*PageSize, PageSize)
	}, func() { h.Unlock() })
	if err := s.CheckInvariants(true); err != nil {
		t.Fatal(err)
	}
}

// Rule 2: an area write lock without the space write lock.
func TestLockcheckStartWriteWithoutSpaceLock(t *testing.T) {
	s := lcSpace(t)
	a := areaOf(s, lcBase)
	lcWant(t, "write-locked without holding its space lock", func() {
		a.lock.StartWrite(&s.lock)
	}, nil)
	lcWant(t, "write-locked without holding its space lock", func() {
		s.lock.RLock()
		a.lock.StartWrite(&s.lock)
	}, func() { s.lock.RUnlock() })
}

// Rule 3: the space lock taken twice by one goroutine (RWMutex read
// recursion deadlocks once a writer queues in between).
func TestLockcheckRecursiveSpaceLock(t *testing.T) {
	s := lcSpace(t)
	lcWant(t, "already held for read", func() {
		s.lock.RLock()
		_ = s.CheckInvariants(false)
	}, func() { s.lock.RUnlock() })
}

// Rule 4: the lock word reports to the shadow under the same key the
// writer uses: a reader admitted while an exclusion is recorded panics.
func TestLockcheckReaderDuringExclusion(t *testing.T) {
	s := lcSpace(t)
	a := areaOf(s, lcBase)
	lcWant(t, "admitted a reader while a writer or detacher excluded readers", func() {
		lockcheck.ExcludeBegin(&a.lock) // as a writer that drained the readers would
		_ = s.Fault(lcBase, Read)
	}, func() {
		// The reader's increment happened before the validator
		// objected: end the pretend exclusion, record the reader the
		// validator refused, and drop its reference.
		lockcheck.ExcludeEnd(&a.lock)
		lockcheck.ReaderIn(&a.lock)
		a.lock.Put(&s.lock)
	})
	if err := s.CheckInvariants(true); err != nil {
		t.Fatal(err)
	}
}

// Rule 5: an area read lock taken inside a write session.
func TestLockcheckAreaReadInWriteSession(t *testing.T) {
	s := lcSpace(t)
	a := areaOf(s, lcBase)
	lcWant(t, "read-locked while holding space lock", func() {
		s.lock.Lock()
		_ = s.Fault(lcBase, Read)
	}, func() {
		// The lockless path got its reference before the validator
		// objected: drop it, then end the session.
		if a.lock.Count() > 1 {
			a.readUnlock(s)
		}
		s.lock.Unlock()
	})
	if err := s.CheckInvariants(true); err != nil {
		t.Fatal(err)
	}
}

// Rule 6: a call that returns with a lock still held.
func TestLockcheckLeakedHandle(t *testing.T) {
	s := lcSpace(t)
	var h *Handle
	lcWant(t, "still holds locks", func() {
		h, _ = s.LockArea(lcBase + PageSize)
		lockcheck.AssertNoneHeld()
	}, func() {
		if h != nil {
			h.Unlock()
		}
	})
}

func areaOf(s *Space, addr uint64) *Area {
	it, ok := s.tree.Find(addr)
	if !ok {
		panic("no area")
	}
	return it.Val.a
}
