package arealock

import (
	"sync"
	"testing"

	"github.com/vmspace/vmspace/internal/spacelock"
)

func newLocks() (*Lock, *spacelock.Lock) {
	var sl spacelock.Lock
	sl.Init()
	var l Lock
	l.Init()
	return &l, &sl
}

// attach stamps and attaches l in a write session of sl.
func attach(l *Lock, sl *spacelock.Lock) {
	sl.Lock()
	l.StartWrite(sl)
	l.Attach(sl)
	sl.Unlock()
}

// TestEncoding walks the lock word through the states of the table in
// docs/protocol.md (section 1.2): 0 detached, 1 attached, +1 per reader, the exclusion flag.
func TestEncoding(t *testing.T) {
	l, sl := newLocks()
	if _, ok := l.TryInc(); ok {
		t.Fatal("a reader got into a detached area")
	}
	attach(l, sl)
	if l.Count() != 1 {
		t.Fatalf("attached count %d", l.Count())
	}
	for i := 0; i < 3; i++ {
		if _, ok := l.TryInc(); !ok {
			t.Fatal("reader refused")
		}
	}
	if l.Count() != 4 {
		t.Fatalf("count %d with three readers", l.Count())
	}
	for i := 0; i < 3; i++ {
		l.Put(sl)
	}
	// Readers are refused while the flag is set, and at the limit.
	l.count.Store(ExcludeReaders + 1)
	if old, ok := l.TryInc(); ok || old != ExcludeReaders+1 {
		t.Fatal("a reader got in beside a writer")
	}
	l.count.Store(Limit)
	if _, ok := l.TryInc(); ok {
		t.Fatal("the reader count passed its limit")
	}
	l.count.Store(Limit - 1)
	if _, ok := l.TryInc(); !ok {
		t.Fatal("the last reader below the limit was refused")
	}
	l.count.Store(1)
}

// TestWriterWaitsForReaders: a writer excludes new readers and sleeps
// until the last one leaves; the last reader out wakes it.
func TestWriterWaitsForReaders(t *testing.T) {
	l, sl := newLocks()
	attach(l, sl)
	if _, ok := l.TryInc(); !ok {
		t.Fatal("reader refused")
	}
	waiting := make(chan struct{})
	SetWaitHook(func(*Lock) {
		select {
		case <-waiting:
		default:
			close(waiting)
		}
	})
	defer SetWaitHook(nil)
	done := make(chan struct{})
	go func() {
		sl.Lock()
		l.StartWrite(sl)
		close(done)
		sl.Unlock()
	}()
	<-waiting
	if _, ok := l.TryInc(); ok {
		t.Fatal("a new reader got in while a writer waited")
	}
	select {
	case <-done:
		t.Fatal("the writer did not wait for the reader")
	default:
	}
	l.Put(sl)
	<-done
	if l.Count() != 1 {
		t.Fatalf("count %d after the writer", l.Count())
	}
}

// TestDetachWithReader: a detach that finds a transient reader waits for
// it and ends at 0.
func TestDetachWithReader(t *testing.T) {
	l, sl := newLocks()
	attach(l, sl)
	sl.Lock()
	l.StartWrite(sl)
	if _, ok := l.TryInc(); !ok { // the reader slips in after the stamp
		t.Fatal("reader refused")
	}
	var wg sync.WaitGroup
	waiting := make(chan struct{}, 1)
	SetWaitHook(func(*Lock) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	defer SetWaitHook(nil)
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.Detach(sl)
	}()
	<-waiting
	l.Put(sl)
	wg.Wait()
	if l.Count() != 0 {
		t.Fatalf("count %d after detach", l.Count())
	}
	sl.Unlock()
}

// TestStampAndBulkUnlock: StartWrite stamps with the session's sequence,
// twice is a no-op, and ending the session releases every stamp.
func TestStampAndBulkUnlock(t *testing.T) {
	var sl spacelock.Lock
	sl.Init()
	ls := make([]*Lock, 5)
	for i := range ls {
		ls[i] = new(Lock)
		ls[i].Init()
		attach(ls[i], &sl)
	}
	sl.Lock()
	if !sl.WriteHeld() {
		t.Fatal("sequence not odd while write-held")
	}
	for _, l := range ls {
		l.StartWrite(&sl)
		l.StartWrite(&sl)
		if !l.WriteLocked(&sl) || l.Count() != 1 {
			t.Fatal("not write-locked")
		}
	}
	sl.Unlock()
	for _, l := range ls {
		if l.WriteLocked(&sl) {
			t.Fatal("stamp survived the end of the session")
		}
	}
}

// TestAttachDetachRules: attaching or detaching without the stamp panics.
func TestAttachDetachRules(t *testing.T) {
	l, sl := newLocks()
	mustPanic(t, "attach without stamp", func() { l.Attach(sl) })
	attach(l, sl)
	mustPanic(t, "detach without stamp", func() { l.Detach(sl) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}
