package torture

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vmspace/vmspace/internal/arealock"
	"github.com/vmspace/vmspace/internal/mm"
)

// TestNoReaderWhileWriterDrains forces the interleaving in which a fault
// tries to read-lock an area while a writer has set ExcludeReaders and is
// waiting for an earlier reader to leave. The fault must fail its try-lock
// (and fall back to the space lock, where it waits for the writer): had it
// got in, it would hold the area while the writer, once the earlier reader
// left, stamps and changes it. The area's lock word at HookReadLocked
// tells: a reader that holds the area with ExcludeReaders set is the bug.
// (docs/mutations.md, m04: TryInc ignoring the flag.)
func TestNoReaderWhileWriterDrains(t *testing.T) {
	const base = 0x40000000
	var violated atomic.Bool
	c := mm.DefaultConfig()
	c.Hooks = &mm.Hooks{At: func(p mm.HookPoint, a *mm.Area) {
		if p == mm.HookReadLocked && a.LockCount() >= arealock.ExcludeReaders {
			violated.Store(true)
		}
	}}
	s, err := mm.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Map(base, 4*mm.PageSize, mm.ProtRead|mm.ProtWrite, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed); err != nil {
		t.Fatal(err)
	}
	// The earlier reader: a handle taken on the lockless path (the only
	// path while no writer is about).
	h, err := s.LockArea(base)
	if err != nil {
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
	wrote := make(chan error, 1)
	go func() { wrote <- s.Protect(base, mm.PageSize, mm.ProtRead) }()
	<-waiting // the writer has set ExcludeReaders and sleeps until the handle goes

	aborts := s.Stats().Abort
	faulted := make(chan error, 1)
	go func() { faulted <- s.Fault(base+2*mm.PageSize, mm.Read) }()
	// Either the fault's lockless attempt gave up (it now waits on the
	// space lock) or it got in, which is the violation.
	for s.Stats().Abort == aborts && !violated.Load() {
		runtime.Gosched()
	}
	h.Unlock()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if err := <-faulted; err != nil {
		t.Fatal(err)
	}
	if violated.Load() {
		t.Fatal("a fault read-locked the area while a writer excluded readers")
	}
	if err := s.CheckInvariants(true); err != nil {
		t.Fatal(err)
	}
}
