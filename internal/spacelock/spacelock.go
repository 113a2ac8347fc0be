// Package spacelock is the space lock of a vmspace address space: the
// kernel's mmap_lock together with its sequence count mm_lock_seq.
//
// The lock is a reader/writer lock. Its 64-bit sequence is incremented when
// a writer takes the lock and again when it releases it, so the sequence is
// odd exactly while the lock is held for writing. An area is write-locked
// when its own stamp equals the current odd sequence (see package arealock),
// so the increment in Unlock releases, in one store, every area the write
// session locked: the kernel's vma_end_write_all.
//
// The sequence is 64 bits wide, unlike the kernel's 32-bit seqcount: with a
// 32-bit count an exact wrap while a reader still holds an area could make a
// writer's "already locked this session" short-circuit lie. At one write
// session per nanosecond a 64-bit count wraps after 584 years.
//
// The lock also holds the single writer wait slot (the kernel's
// mm->vma_writer_wait). Only the holder of the write lock can wait for area
// readers to drain, so one slot per space suffices.
package spacelock

import (
	"sync"
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/lockcheck"
)

// Lock is a space lock. The zero value is not ready: call Init.
type Lock struct {
	// rw is the reader/writer lock proper.
	rw sync.RWMutex

	// seq is odd while rw is held for writing. Written only by the holder
	// of rw for writing; read locklessly (atomic) by area readers.
	seq atomic.Uint64

	// wake is the writer wait slot: buffered with capacity one so that a
	// wake-up sent before the writer sleeps is not lost. A stale token
	// causes one spurious wake-up, which writers tolerate because they
	// re-check their condition.
	wake chan struct{}
}

// Init prepares l for use.
func (l *Lock) Init() { l.wake = make(chan struct{}, 1) }

// Lock takes the lock for writing and makes the sequence odd
// (mmap_write_lock: down_write, then mm_lock_seqcount_begin).
func (l *Lock) Lock() {
	lockcheck.SpaceWrite(l)
	l.rw.Lock()
	l.seq.Add(1)
}

// Unlock makes the sequence even, which releases every area write lock
// taken in this session at once, then releases the lock
// (mmap_write_unlock: vma_end_write_all, then up_write).
func (l *Lock) Unlock() {
	l.seq.Add(1)
	l.rw.Unlock()
	lockcheck.SpaceWriteRelease(l)
}

// RLock takes the lock for reading (mmap_read_lock). The sequence does not
// change.
func (l *Lock) RLock() {
	lockcheck.SpaceRead(l)
	l.rw.RLock()
}

// TryRLock takes the lock for reading if it can do so without waiting
// (mmap_read_trylock). A try-lock cannot deadlock, so it is allowed where
// RLock is not: while holding an area read lock.
func (l *Lock) TryRLock() bool {
	if !l.rw.TryRLock() {
		return false
	}
	lockcheck.SpaceTryRead(l)
	return true
}

// RUnlock releases a read lock.
func (l *Lock) RUnlock() {
	l.rw.RUnlock()
	lockcheck.SpaceReadRelease(l)
}

// Seq returns the current sequence. Readers load it without any lock.
func (l *Lock) Seq() uint64 { return l.seq.Load() }

// WriteHeld reports whether some goroutine holds l for writing. Only the
// holder can rely on a true answer staying true.
func (l *Lock) WriteHeld() bool { return l.seq.Load()&1 == 1 }

// Wait sleeps until Wake is called (or a stale wake-up is pending).
// Precondition: the caller holds l for writing.
func (l *Lock) Wait() { <-l.wake }

// Wake wakes the writer sleeping in Wait, if any; it never blocks.
func (l *Lock) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}
