package spacelock

import "testing"

// TestSequence: the sequence is odd exactly while the lock is held for
// writing, readers leave it alone, and each write session moves it by two.
func TestSequence(t *testing.T) {
	var l Lock
	l.Init()
	for i := uint64(0); i < 3; i++ {
		if l.Seq() != 2*i || l.WriteHeld() {
			t.Fatalf("before session %d: seq %d", i, l.Seq())
		}
		l.RLock()
		if l.Seq() != 2*i {
			t.Fatal("a reader moved the sequence")
		}
		l.RUnlock()
		l.Lock()
		if !l.WriteHeld() || l.Seq() != 2*i+1 {
			t.Fatalf("in session %d: seq %d", i, l.Seq())
		}
		if l.TryRLock() {
			t.Fatal("TryRLock succeeded beside a writer")
		}
		l.Unlock()
	}
}

// TestWake: a wake-up sent before the writer sleeps is kept (one slot),
// extra wake-ups never block.
func TestWake(t *testing.T) {
	var l Lock
	l.Init()
	l.Wake()
	l.Wake() // must not block
	l.Wait() // consumes the kept wake-up
	select {
	case <-l.wake:
		t.Fatal("more than one wake-up kept")
	default:
	}
}
