package mm

import "sync/atomic"

// readResult is the outcome of tryReadLock.
type readResult uint8

const (
	readLocked   readResult = iota
	readDetached            // the area was detached: look the address up again
	readFailed              // write-locked, excluded, foreign or full: fall back
)

// maxMisses bounds how often a fault looks again after finding a detached
// area. The kernel loops until the writer clears the tree; here the writer
// publishes its tree only at commit, so a reader that keeps finding the
// same detached area is better off waiting on the space lock.
const maxMisses = 4

// tryReadLock is the reader's try-lock (vma_start_read). a came from a
// lockless lookup in s and may since have been detached, freed, or reused
// for another range or another space.
func (a *Area) tryReadLock(s *Space) readResult {
	// Cheap, pessimistic: looks write-locked in this session.
	if a.lock.StampLooksLocked(&s.lock) {
		return readFailed
	}
	s.hook(HookAfterEarlyCheck, a)
	old, ok := a.lock.TryInc()
	if !ok {
		if old == 0 {
			return readDetached
		}
		return readFailed
	}
	s.hook(HookAfterInc, a)
	// Recycled into another space while we looked. Drop the reference
	// on behalf of that space: its writer may be waiting for us.
	if other := a.space.Load(); other != s {
		a.lock.Put(&other.lock)
		return readFailed
	}
	// The authoritative check, after the increment: both values loaded
	// afresh (reusing the early loads would miss a writer that stamped
	// the area in between).
	if a.lock.Stamp() == s.lock.Seq() {
		a.lock.Put(&s.lock)
		return readFailed
	}
	return readLocked
}

// readUnlock releases a read lock taken by tryReadLock (vma_end_read).
func (a *Area) readUnlock(s *Space) { a.lock.Put(&s.lock) }

// lookupHint remembers, per 2 MiB bucket of addresses, the area the last
// lockless lookup in that bucket locked. It is only a hint: an area from it
// goes through the same try-lock and validation as one from the tree (same
// space, attached, address inside), which hold for any stale pointer, since
// a lookup in the tree can be just as stale by the time it locks (areas are
// recycled at once). The kernel kept a per-thread cache of recent areas
// (vmacache) until the maple tree made lookups cheap enough; here the cost
// is not the walk but its cache misses: a writer publishing unrelated
// changes replaces the root and top nodes every commit, so each walk after
// a commit misses on lines another core wrote. A hit touches only the
// slot, the area and the space's sequence.
//
// Slots are written by readers after a tree lookup and never by writers: a
// stale slot costs one failed try-lock (or one foreign reference, dropped
// on behalf of the other space as in tryReadLock) and then a tree walk.
// A stale slot also keeps a freed area from the collector until the slot
// is overwritten, which is harmless: areas are recycled, never unmapped.
type lookupHint struct {
	slot [hintSlots]atomic.Pointer[Area] // read and written locklessly
}

const (
	hintSlots = 16
	hintShift = 21 // 2 MiB buckets: the span of one page-table leaf
)

func (h *lookupHint) at(addr uint64) *atomic.Pointer[Area] {
	return &h.slot[(addr>>hintShift)&(hintSlots-1)]
}

// lockAreaLockless finds the area covering addr and read-locks it without
// taking the space lock (lock_vma_under_rcu). It returns nil if the caller
// must fall back to the space lock; the counters say why.
func (s *Space) lockAreaLockless(addr uint64) *Area {
	if a := s.hint.at(addr).Load(); a != nil {
		s.hook(HookAfterHint, a)
		if a.tryReadLock(s) == readLocked {
			if addr >= a.start && addr < a.end {
				s.hook(HookReadLocked, a)
				return a
			}
			a.readUnlock(s)
		}
	}
	return s.lockAreaLookup(addr)
}

// lockAreaLookup is lockAreaLockless when the hint did not serve: the
// lookup in the tree, outlined so the hint's path stays small.
//
//go:noinline
func (s *Space) lockAreaLookup(addr uint64) *Area {
	st := s.stats.at(addr)
	for misses := 0; ; {
		v, ok := s.tree.FindVal(addr)
		if !ok {
			st.abort.Add(1)
			return nil
		}
		a := v.a
		s.hook(HookAfterLookup, a)
		switch a.tryReadLock(s) {
		case readDetached:
			st.miss.Add(1)
			if misses++; misses < maxMisses {
				continue
			}
			st.abort.Add(1)
			return nil
		case readFailed:
			st.abort.Add(1)
			return nil
		}
		// Locked: the fields are stable now. The area may have been
		// shrunk, moved or reused at another range of this space since
		// the lookup.
		if addr < a.start || addr >= a.end {
			a.readUnlock(s)
			st.abort.Add(1)
			return nil
		}
		s.hook(HookReadLocked, a)
		// Store only a change: the slot's line is read by every fault in
		// the bucket, and a hint that failed only for a moment (its area
		// write-locked) is still the right one.
		if h := s.hint.at(addr); h.Load() != a {
			h.Store(a)
		}
		return a
	}
}
