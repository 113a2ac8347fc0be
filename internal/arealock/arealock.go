// Package arealock is the per-area lock of vmspace: the kernel's per-VMA
// lock since Linux 6.15, one reference-count word plus a sequence stamp.
//
// The count encodes everything a reader needs to know (the kernel's
// vm_refcnt; see include/linux/mm_types.h):
//
//	0                   detached: not in any tree, or freed; readers cannot get in
//	1                   attached, no readers (maybe write-locked: see below)
//	2 .. Limit          attached, count-1 readers
//	ExcludeReaders      a detacher drained the readers; about to become 0
//	ExcludeReaders+1    a writer drained the readers (or a detacher waits for one)
//	> ExcludeReaders+1  a writer or detacher waits for readers to leave
//
// Write-lockedness is not in the count. An area is write-locked when its
// stamp (the kernel's vm_lock_seq) equals the space's sequence, which is odd
// only while the space lock is held for writing (package spacelock). So the
// lock a writer holds after StartWrite is only the stamp; the count is back
// at 1, and a reader that slips in sees the stamp and backs out. Ending the
// write session increments the space's sequence and releases every stamp at
// once.
//
// Readers never wait. TryRead (vma_start_read's increment) is a bounded CAS
// loop that fails when the count is 0 (detached) or when adding one would
// pass Limit, which is exactly when a writer or detacher has added
// ExcludeReaders or the reader count is full. Because Limit is
// ExcludeReaders-1, a writer's addition of ExcludeReaders can never overflow
// the 32-bit word.
//
// Every field here is read by readers that hold no lock yet, possibly on an
// area that has been freed and reused for another range or another space,
// so every field is atomic.
package arealock

import (
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/lockcheck"
	"github.com/vmspace/vmspace/internal/spacelock"
)

const (
	// ExcludeReaders is added to the count by a writer or detacher
	// (VM_REFCNT_EXCLUDE_READERS_FLAG).
	ExcludeReaders = 1 << 30
	// Limit is the largest count a reader may create (VM_REFCNT_LIMIT).
	Limit = ExcludeReaders - 1
	// NoStamp is the stamp of a new area (vma_lock_init's UINT_MAX): it
	// never equals an odd sequence a space will reach.
	NoStamp = ^uint64(0)

	// minusExclude subtracts ExcludeReaders when added to a uint32.
	minusExclude = ^uint32(ExcludeReaders - 1)
)

// Lock is one area's lock. The zero value is a detached area whose stamp is
// 0; call Init before first use.
type Lock struct {
	// count is the reference count (vm_refcnt). Atomic: read and CASed by
	// readers without any other lock.
	count atomic.Uint32

	// stamp is the space sequence of the write session that last
	// write-locked this area (vm_lock_seq). Written only by the holder of
	// the space write lock while ExcludeReaders is set or the area is
	// detached; read by lockless readers, so atomic. Never reset on free:
	// a freed area must stay write-locked until its session ends.
	stamp atomic.Uint64
}

// Init prepares a fresh area: detached, not stamped (vma_lock_init). It
// must not be called on an area that a stale reader could still be
// looking at with a count above 0; a recycled area is always at 0.
func (l *Lock) Init() {
	l.count.Store(0)
	l.stamp.Store(NoStamp)
}

// Count returns the raw count, for invariant checks and tests.
func (l *Lock) Count() uint32 { return l.count.Load() }

// Stamp returns the raw stamp.
func (l *Lock) Stamp() uint64 { return l.stamp.Load() }

// Attached reports whether the count is not zero.
func (l *Lock) Attached() bool { return l.count.Load() != 0 }

// WriteLocked reports whether the area is write-locked in sl's current
// session (__is_vma_write_locked). Only meaningful to the holder of sl for
// writing; readers use the same comparison as a failure test.
func (l *Lock) WriteLocked(sl *spacelock.Lock) bool {
	return l.stamp.Load() == sl.Seq()
}

// StampLooksLocked is the reader's early, pessimistic check: the stamp
// equals the space's current sequence. Either load may be stale; a false
// "locked" only costs a fallback, and a false "unlocked" is caught by the
// authoritative check after the increment.
func (l *Lock) StampLooksLocked(sl *spacelock.Lock) bool {
	return l.stamp.Load() == sl.Seq()
}

// TryInc adds one reader if the area is attached and neither a writer nor
// a detacher excludes readers (__refcount_inc_not_zero_limited_acquire).
// It returns the count it saw: 0 means detached (the caller should look the
// address up again), anything else with ok=false means excluded or full.
// Go's atomics are sequentially consistent, so the successful CAS orders
// every later load after it, as the kernel's acquire does.
func (l *Lock) TryInc() (old uint32, ok bool) {
	old = l.count.Load()
	for {
		if old == 0 || old >= Limit {
			return old, false
		}
		if l.count.CompareAndSwap(old, old+1) {
			lockcheck.ReaderIn(l)
			return old, true
		}
		old = l.count.Load()
	}
}

// Put drops one reader reference (vma_refcount_put). sl must be the space
// lock of the space the area belonged to while the reference was held: the
// caller copies it before calling, because once the count drops the area
// may be freed and reused by another space. If this was the last reader
// blocking a writer or detacher, Put wakes it.
func (l *Lock) Put(sl *spacelock.Lock) {
	lockcheck.ReaderOut(l)
	n := l.count.Add(^uint32(0))
	if n != 0 && n&ExcludeReaders != 0 && n <= ExcludeReaders+1 {
		sl.Wake()
	}
}

// StartWrite write-locks the area for the current write session of sl
// (vma_start_write). Re-locking in the same session is a no-op. If readers
// hold the area, StartWrite excludes new ones and waits until they leave.
// The area may be detached (a new area is stamped before it is attached).
// Precondition: sl is held for writing by the caller.
func (l *Lock) StartWrite(sl *spacelock.Lock) {
	seq := sl.Seq()
	if l.stamp.Load() == seq {
		return
	}
	lockcheck.AreaWrite(l, sl)
	excl := l.excludeReaders(sl, ExcludeReaders+1)
	l.stamp.Store(seq)
	if excl {
		// Back to 1. The area was attached, and only the holder of sl
		// can detach it, so this cannot reach 0.
		lockcheck.ExcludeEnd(l)
		if l.count.Add(minusExclude) == 0 {
			panic("arealock: write-locked area became detached")
		}
		// Readers may come in again from here on: the stamp must be
		// stored by now, or a reader would pass its stamp check and
		// hold the area while this writer changes it.
		if hook := readmitHook.Load(); hook != nil {
			(*hook)(l)
		}
	}
}

// excludeReaders adds ExcludeReaders to a non-zero count and waits until the
// count equals target (__vma_start_exclude_readers). It returns false, and
// does nothing, if the count was 0 (detached: there is nobody to exclude).
func (l *Lock) excludeReaders(sl *spacelock.Lock, target uint32) bool {
	for {
		old := l.count.Load()
		if old == 0 {
			return false
		}
		if l.count.CompareAndSwap(old, old+ExcludeReaders) {
			break
		}
	}
	for l.count.Load() != target {
		if hook := waitHook.Load(); hook != nil {
			(*hook)(l)
		}
		sl.Wait()
	}
	lockcheck.ExcludeBegin(l)
	return true
}

// Attach publishes a detached, write-locked area (vma_mark_attached). All
// field stores made before it are visible to any reader whose increment
// succeeds afterwards.
// Precondition: sl held for writing; the area is write-locked and detached.
func (l *Lock) Attach(sl *spacelock.Lock) {
	if l.stamp.Load() != sl.Seq() {
		panic("arealock: attaching an area that is not write-locked")
	}
	if !l.count.CompareAndSwap(0, 1) {
		panic("arealock: attaching an attached area")
	}
}

// Detach marks a write-locked, attached area detached (vma_mark_detached).
// In the usual case the count goes from 1 to 0. If a reader is mid-way (it
// incremented, will see the stamp and leave), Detach excludes further
// readers and waits for it, then drops to 0.
// Precondition: sl held for writing; the area is write-locked and attached.
func (l *Lock) Detach(sl *spacelock.Lock) {
	if l.stamp.Load() != sl.Seq() {
		panic("arealock: detaching an area that is not write-locked")
	}
	if l.count.Add(^uint32(0)) == 0 {
		return
	}
	// A reader holds a transient reference: 1->0 became n->n-1. Exclude
	// the remaining readers, wait for the count to reach exactly
	// ExcludeReaders, and drop the flag to reach 0.
	if !l.excludeReaders(sl, ExcludeReaders) {
		// The reader left between our decrement and our addition.
		return
	}
	lockcheck.ExcludeEnd(l)
	if l.count.Add(minusExclude) != 0 {
		panic("arealock: detach did not reach 0")
	}
}

// waitHook, when set, runs each time a writer or detacher is about to sleep
// waiting for readers. Tests use it to force interleavings.
var waitHook atomic.Pointer[func(*Lock)]

// SetWaitHook installs f (nil removes it). For tests only.
func SetWaitHook(f func(*Lock)) {
	if f == nil {
		waitHook.Store(nil)
		return
	}
	waitHook.Store(&f)
}

// readmitHook, when set, runs in StartWrite right after the writer ended its
// exclusion of readers. Tests park the writer there and send a reader in.
var readmitHook atomic.Pointer[func(*Lock)]

// SetReadmitHook installs f (nil removes it). For tests only.
func SetReadmitHook(f func(*Lock)) {
	if f == nil {
		readmitHook.Store(nil)
		return
	}
	readmitHook.Store(&f)
}
