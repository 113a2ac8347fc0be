package mm

import (
	"cmp"
	"slices"
	"syscall"

	"github.com/vmspace/vmspace/internal/frames"

	"github.com/vmspace/vmspace/internal/lockcheck"
)

// Observer follows the changes a space makes to its pages and protections,
// so that real memory mirroring part of the space (package uffd: a
// userfaultfd window) changes with it in the same write session.
//
// Lock order: the methods run at a write session's commit, with the space
// lock held for writing and every area over the range write-locked or
// detached, so no fault on the range can be served while they run. They
// sit below the space lock and the area locks in the order of doc.go and
// must not call back into the space, block on anything a fault holds, or
// fail: the session is past its point of no return. They are called in
// the order the session did the work.
type Observer interface {
	// Zap: the pages of [start, end) are gone (munmap when unmapped is
	// true, MADV_DONTNEED, MADV_PAGEOUT, guard installation). A page
	// faulted in there again starts empty.
	Zap(start, end uint64, unmapped bool)
	// Move: the pages of [from, from+length) now live at [to,
	// to+length) (mremap), in an area with protection prot.
	Move(from, to, length uint64, prot Prot)
	// Protect: the area [start, end) exists after the session with
	// protection prot (new areas, and areas whose protection or range
	// changed).
	Protect(start, end uint64, prot Prot)
}

// Accessor is an Observer whose real memory becomes the store of some
// ranges of the space (package uffd: a page of a userfaultfd window lives in
// the window's memory from its first install on). ReadAt and WriteAt hand
// those ranges to it, so that bytes read and written through the space are
// the bytes the process's threads load and store.
//
// Lock order: ReadAt and WriteAt call it holding no lock of the space; it
// may take area locks itself (Space.LockArea) and may cause faults that its
// own handler serves under an area lock, which is why no lock may be held
// around it.
type Accessor interface {
	// Covers returns how many bytes of [addr, addr+n) from addr on the
	// accessor serves: 0 when addr is not in its memory.
	Covers(addr uint64, n int) int
	// AccessAt reads (write false) or writes p at addr, all of it inside
	// a range Covers reported, checking the access against the area as a
	// fault would.
	AccessAt(p []byte, addr uint64, write bool) (int, error)
}

// accessorBox holds the installed Accessor for lockless loads.
type accessorBox struct{ a Accessor }

// Orderer is an Observer that also mirrors into the space changes made
// elsewhere first (package uffd: a client's own munmap, mremap and
// MADV_DONTNEED, learned from userfaultfd events), and so must have the
// ones it has learned of in the space before any other write session
// starts: a session over a layout that lacks them would have its Observer
// calls land on memory that has changed since (an mprotect on a range the
// client has moved away), and the mirror, applied after it, would undo
// what it did (a Map of a range the client unmapped and mapped again,
// removed by the late mirror of the unmap).
//
// Lock order: Order runs at the start of every write session except the
// orderer's own, on the goroutine that asked for the session, before it
// takes the space lock; it may wait for the orderer's own sessions.
// A caller must therefore not ask for a write session while holding an
// area handle (LockArea) of the space, which those sessions may need to
// write-lock.
type Orderer interface {
	Observer
	// Order returns once every change the orderer has learned of so far
	// is in the space. It returns at once when called for one of the
	// orderer's own sessions.
	Order()
}

// ordererBox holds the installed Orderer for lockless loads.
type ordererBox struct{ o Orderer }

// SetObserver installs o (nil removes it). If o is also an Accessor, the
// space's ReadAt and WriteAt go through it for the ranges it covers; if it
// is an Orderer, every write session waits for its Order first. A space has at most one
// observer: installing a second fails with EBUSY. It waits for the write
// session in progress, if any.
func (s *Space) SetObserver(o Observer) error {
	s.lock.Lock()
	defer s.lock.Unlock()
	if o != nil && s.observer != nil {
		return syscall.EBUSY
	}
	s.observer = o
	s.hasObserver.Store(o != nil)
	if acc, ok := o.(Accessor); ok {
		s.accessor.Store(&accessorBox{acc})
	} else {
		s.accessor.Store(nil)
	}
	if ord, ok := o.(Orderer); ok {
		s.orderer.Store(&ordererBox{ord})
	} else {
		s.orderer.Store(nil)
	}
	return nil
}

// notifyObserverLocked tells the observer what the session did: the page
// work in order, then the protections of the ranges whose protection the
// session changed (protectionChangesLocked). Precondition: at commit,
// after applyPageOps.
func (x *session) notifyObserverLocked() {
	o := x.s.observer
	for _, op := range x.pageOps {
		switch op.kind {
		case opClear:
			o.Zap(op.start, op.end, true)
		case opZap, opPageout, opPageoutShared, opGuardInstall:
			o.Zap(op.start, op.end, false)
		case opMove:
			var prot Prot
			if it, ok := x.s.tree.Find(op.to); ok {
				prot = it.Val.a.flags.Prot()
			}
			o.Move(op.start, op.to, op.end-op.start, prot)
		}
	}
	x.protectionChangesLocked(o.Protect)
}

// protPiece is a range with one protection, as the layout held it before
// the session.
type protPiece struct {
	start, end uint64
	prot       Prot
}

// protectionChangesLocked calls fn for every range that has an area after
// the session and either had none before it or had another protection:
// exactly the ranges whose real memory must be mprotected. Areas the
// session merged, split or extended keep their unchanged parts out of it.
//
// Why not the whole areas the session created or modified: a merge makes
// one area of a range the session never touched, and the real memory
// behind that part may at this moment be changing under its own owner (a
// userfaultfd client's munmap or mremap whose event is not mirrored yet);
// an mprotect there would land on memory the space no longer describes.
// Linux's mprotect, likewise, changes only the range it was given.
//
// The layout before the session over any range that changed is the saved
// fields of the areas the session modified plus the fields of those it
// detached (an area it left alone cannot overlap a changed range). Those
// pieces do not overlap. Precondition: at commit, before forget.
func (x *session) protectionChangesLocked(fn func(start, end uint64, prot Prot)) {
	old := x.oldPieces[:0]
	for _, f := range x.saved {
		old = append(old, protPiece{f.start, f.end, f.flags.Prot()})
	}
	for _, a := range x.detached {
		if a.sess&sessSaved == 0 { // else its saved fields are above
			old = append(old, protPiece{a.start, a.end, a.flags.Prot()})
		}
	}
	slices.SortFunc(old, func(a, b protPiece) int { return cmp.Compare(a.start, b.start) })
	x.oldPieces = old
	report := func(a *Area) {
		prot := a.flags.Prot()
		// Adjacent changed pieces go out as one range.
		var lo, hi uint64
		emit := func(s, e uint64) {
			if s == hi && hi != lo {
				hi = e
				return
			}
			if hi != lo {
				fn(lo, hi, prot)
			}
			lo, hi = s, e
		}
		at := a.start // reported or found unchanged up to here
		i, _ := slices.BinarySearchFunc(old, a.start, func(p protPiece, t uint64) int {
			if p.end <= t {
				return -1
			}
			return 1
		})
		for ; i < len(old) && old[i].start < a.end; i++ {
			p := old[i]
			if p.start > at { // a hole before the session
				emit(at, p.start)
			}
			if p.prot != prot {
				emit(max(p.start, a.start), min(p.end, a.end))
			}
			at = min(p.end, a.end)
		}
		if at < a.end {
			emit(at, a.end)
		}
		emit(0, 0)
	}
	for _, a := range x.fresh {
		if a.sess&sessDropped == 0 {
			report(a)
		}
	}
	for _, f := range x.saved {
		if a := f.a; a.sess&sessDetached == 0 {
			report(a)
		}
	}
}

// TryLockArea is LockArea that never waits: in per-area mode the lockless
// path only, in whole-space mode a try-lock of the space lock. It fills h
// and reports true when it holds the area covering addr; false means the
// caller must use LockArea (which also gives the right error for an
// address with no area). It allocates nothing.
func (s *Space) TryLockArea(addr uint64, h *Handle) bool {
	if s.mode == PerArea {
		a := s.lockAreaLockless(addr)
		if a == nil {
			return false
		}
		lockcheck.AreaRead(a, s)
		*h = Handle{s: s, a: a}
		return true
	}
	if !s.lock.TryRLock() {
		return false
	}
	it, ok := s.tree.Find(addr)
	if !ok || s.closing.Load() {
		s.lock.RUnlock()
		return false
	}
	*h = Handle{s: s, a: it.Val.a, spaceLocked: true}
	return true
}

// DropPages drops the space's own pages of [start, end) under the held
// lock, as MADV_DONTNEED on the per-area path does (adviseUnderAreaLock:
// each slot emptied with a compare-and-swap, guard markers kept), without
// telling the observer: for a caller mirroring a drop that has already
// happened in the real memory. Precondition: h is held and [start, end)
// (page-aligned) lies in its area.
func (h *Handle) DropPages(start, end uint64) {
	s := h.s
	s.zapUnderAreaLock((start-s.base)>>pageShift, (end-s.base)>>pageShift)
}

// PageKind is what a slot holds, as Handle.ReadPage reports it.
type PageKind uint8

const (
	PageNone  PageKind = iota // no page of its own: empty or the zero page
	PageData                  // a page with data, copied out
	PageGuard                 // a guard marker (accesses fault with SEGV_MAPERR)
)

// ReadPage copies the bytes of the page at addr into dst (PageSize bytes)
// if the space holds a page with data there. It faults nothing in.
// Precondition: h is held and addr lies in its area.
func (h *Handle) ReadPage(addr uint64, dst []byte) PageKind {
	s := h.s
	slot := s.pt.Slot((addr - s.base) >> pageShift)
	for {
		p := slot.Load()
		switch {
		case p == frames.Guard:
			return PageGuard
		case !p.Ordinary(): // nothing, or the zero page
			return PageNone
		}
		// Held and re-checked as a fault's read: a DONTNEED under
		// the same read lock may free the frame meanwhile.
		if !s.holdFrame(h.a, slot, p) {
			continue
		}
		s.mem.Read(p, 0, dst[:PageSize])
		s.mem.Unref(p)
		return PageData
	}
}

// Permits reports whether the area allows acc (the access check of
// handle_mm_fault's callers: a write needs VM_WRITE, an exec VM_EXEC, a
// read any of the three, as on x86-64).
func (h *Handle) Permits(acc Access) bool { return h.a.flags.permits(acc) }
