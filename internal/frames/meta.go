package frames

import "sync/atomic"

// meta is a frame's metadata, 16 bytes (the kernel's struct page, in
// small).
type meta struct {
	// rc holds the reference count in its low 32 bits and the mapping
	// count in its high 32, so that dropping a mapping (both at once)
	// is one atomic operation and its result tells the dropper whether
	// it freed the frame. Atomic.
	rc atomic.Uint64
	// fl holds the flags in its low bits; while the frame is free, its
	// high 32 bits link it into its shard's free list (written under
	// the shard's mutex, atomic so that a stale reader's flag load is
	// well defined).
	fl atomic.Uint64
}

const (
	oneRef  = 1
	oneMap  = 1 << 32
	refMask = 1<<32 - 1
	// pinned is the count of the zero page: never 0, never exclusive.
	pinned = 1<<30*oneMap | 1<<30

	flagClean  = 1 << 0
	flagShared = 1 << 1
	// flagWasShared: mapped more than once since ForgetShared last ran.
	flagWasShared = 1 << 2
	flagMask      = 1<<32 - 1
)

func refsOf(w uint64) uint32 { return uint32(w & refMask) }
func mapsOf(w uint64) uint32 { return uint32(w >> 32) }

func (m *meta) setNext(n Frame) { m.fl.Store(uint64(n) << 32) }
func (m *meta) next() Frame     { return Frame(m.fl.Load() >> 32) }

// Maps returns the number of mappings of f (page-table slots, and a shared
// object's own reference). Reading it needs no reference.
func (a *Arena) Maps(f Frame) uint32 { return mapsOf(a.meta(f).rc.Load()) }

// Exclusive reports whether exactly one mapping holds f, so that a private
// write may reuse it in place (wp_page_reuse's test).
func (a *Arena) Exclusive(f Frame) bool { return mapsOf(a.meta(f).rc.Load()) == 1 }

// Map adds a mapping of f (a slot now holds it): a reference and a mapping.
// The frame is marked as shared first, so that anyone who sees the new
// count sees the mark (WasShared).
// Precondition: the caller holds a mapping or a reference of f.
func (a *Arena) Map(f Frame) {
	m := a.meta(f)
	m.fl.Or(flagWasShared)
	m.rc.Add(oneMap | oneRef)
}

// WasShared reports whether f may have been mapped more than once since
// ForgetShared last ran: a write fault elsewhere may then be copying it,
// and reusing it in place needs the page-table lock (package mm).
func (a *Arena) WasShared(f Frame) bool { return a.meta(f).fl.Load()&flagWasShared != 0 }

// ForgetShared clears the mark WasShared reports.
// Precondition: the caller holds the page-table lock of the one slot that
// maps f, has seen it mapped once under that lock, and holds a lock that
// keeps the slot's space from forking, so the count cannot rise.
func (a *Arena) ForgetShared(f Frame) { a.meta(f).fl.And(^uint64(flagWasShared)) }

// Unmap drops a mapping of f and its reference. The frame is freed when
// that was its last reference; if readers still hold references, it waits
// for them (counted in Stats.Held).
func (a *Arena) Unmap(f Frame) {
	w := a.meta(f).rc.Add(^uint64(oneMap|oneRef) + 1)
	if int32(refsOf(w)) < 0 || int32(mapsOf(w)) < 0 {
		panic("frames: Unmap of an unmapped frame")
	}
	switch {
	case refsOf(w) == 0:
		a.free(f)
	case mapsOf(w) == 0:
		a.held.Add(1)
	}
}

// TryRef takes a reference on f unless it is free (get_page_unless_zero).
// A caller that found f in a slot must, after TryRef succeeds, check that
// the slot still holds f before it trusts the bytes: f may have been freed
// and handed to another owner in between, and the reference keeps that
// owner's frame alive, not the caller's.
func (a *Arena) TryRef(f Frame) bool {
	m := a.meta(f)
	for {
		w := m.rc.Load()
		if refsOf(w) == 0 {
			return false
		}
		if m.rc.CompareAndSwap(w, w+oneRef) {
			return true
		}
	}
}

// Unref drops a reference taken by TryRef or handed out by Alloc.
func (a *Arena) Unref(f Frame) {
	w := a.meta(f).rc.Add(^uint64(0))
	if int32(refsOf(w)) < 0 {
		panic("frames: Unref of a free frame")
	}
	if refsOf(w) == 0 {
		if mapsOf(w) != 0 {
			panic("frames: last reference of a mapped frame dropped")
		}
		a.held.Add(-1) // it was unmapped while this reference held it
		a.free(f)
	}
}

// MarkClean marks f droppable by reclaim until it is written: given up
// with MADV_FREE (folio_mark_lazyfree), or a new page of a shared object.
// Precondition: the caller holds a mapping or a reference of f.
func (a *Arena) MarkClean(f Frame) { a.meta(f).fl.Or(flagClean) }

// Clean reports whether f may be dropped by reclaim.
func (a *Arena) Clean(f Frame) bool { return a.meta(f).fl.Load()&flagClean != 0 }

// Redirty clears the clean mark: a write makes the data count (the dirty
// bit reclaim tests). Precondition: the caller holds a mapping or a
// reference of f.
func (a *Arena) Redirty(f Frame) {
	m := a.meta(f)
	if m.fl.Load()&flagClean != 0 {
		m.fl.And(^uint64(flagClean))
	}
}

// MarkShared marks f as a page of a shared mapping (never copied on
// write). Precondition: f is not yet published.
func (a *Arena) MarkShared(f Frame) { a.meta(f).fl.Or(flagShared) }

// Shared reports whether f is a page of a shared mapping.
func (a *Arena) Shared(f Frame) bool { return a.meta(f).fl.Load()&flagShared != 0 }

// State is a frame's counts and flags as read at one point, for a fast
// path that asks several questions of one frame: one metadata lookup
// instead of one per question. It is a snapshot; the frame may change
// after it is taken.
type State struct{ rc, fl uint64 }

// State returns f's counts and flags. Reading it needs no reference.
func (a *Arena) State(f Frame) State {
	m := a.meta(f)
	return State{rc: m.rc.Load(), fl: m.fl.Load()}
}

// Exclusive reports whether the frame was mapped exactly once.
func (s State) Exclusive() bool { return mapsOf(s.rc) == 1 }

// Clean reports whether the frame was marked droppable.
func (s State) Clean() bool { return s.fl&flagClean != 0 }

// WasShared reports whether the frame had the WasShared mark.
func (s State) WasShared() bool { return s.fl&flagWasShared != 0 }
