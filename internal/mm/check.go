package mm

import (
	"fmt"
	"runtime"
	"time"

	"github.com/vmspace/vmspace/internal/arealock"
	"github.com/vmspace/vmspace/internal/frames"
	"github.com/vmspace/vmspace/internal/pagetable"
	"github.com/vmspace/vmspace/internal/tree"
)

// CheckInvariants checks the space's structural invariants and returns the
// first violation found: the tree is ordered and well formed, areas do not
// overlap and lie inside the range, every area in the tree is allocated
// (never attached and freed), attached, unlocked by any writer, and agrees
// with its tree entry, and no page is present outside an area. With quiet
// set (no fault or handle in flight), every area's lock word must be back
// at exactly 1, once any transient reference of a stale reader of another
// space has drained (drainTransient). It holds the space lock for reading
// while it looks.
func (s *Space) CheckInvariants(quiet bool) error {
	s.lock.RLock()
	defer s.lock.RUnlock()
	snap := s.tree.Snapshot()
	defer snap.Release()
	if err := snap.Validate(); err != nil {
		return fmt.Errorf("tree: %w", err)
	}
	var err error
	prevEnd := s.base
	n := 0
	snap.Ascend(0, func(it tree.Item[entry]) bool {
		n++
		a := it.Val.a
		c := a.lock.Count()
		if quiet && c > 1 && c < arealock.ExcludeReaders {
			c = drainTransient(a, c)
		}
		switch {
		case it.Start < prevEnd:
			err = fmt.Errorf("area [%#x,%#x) overlaps or precedes the previous one ending at %#x", it.Start, it.End, prevEnd)
		case it.End > s.end || it.Start >= it.End || it.Start&pageMask != 0 || it.End&pageMask != 0:
			err = fmt.Errorf("area [%#x,%#x) outside [%#x,%#x) or unaligned", it.Start, it.End, s.base, s.end)
		case !a.live.Load():
			err = fmt.Errorf("area [%#x,%#x) is in the tree but freed", it.Start, it.End)
		case a.space.Load() != s:
			err = fmt.Errorf("area [%#x,%#x) belongs to another space", it.Start, it.End)
		case c == 0:
			err = fmt.Errorf("area [%#x,%#x) is in the tree but detached", it.Start, it.End)
		case c >= arealock.ExcludeReaders:
			err = fmt.Errorf("area [%#x,%#x) has readers excluded (%#x) outside a write session", it.Start, it.End, c)
		case quiet && c != 1:
			err = fmt.Errorf("area [%#x,%#x) lock word %d, want 1 when quiet", it.Start, it.End, c)
		case a.lock.WriteLocked(&s.lock):
			err = fmt.Errorf("area [%#x,%#x) write-locked outside a write session", it.Start, it.End)
		case a.start != it.Start || a.end != it.End || a.flags != it.Val.flags || a.pgoff != it.Val.pgoff || a.shm != it.Val.obj:
			err = fmt.Errorf("area [%#x,%#x) %#x disagrees with its tree entry [%#x,%#x) %#x",
				a.start, a.end, a.flags, it.Start, it.End, it.Val.flags)
		case a.anon.Load() != nil && a.anonChain < 1:
			err = fmt.Errorf("area [%#x,%#x) has an anon_vma but an empty chain", it.Start, it.End)
		}
		prevEnd = it.End
		return err == nil
	})
	if err != nil {
		return err
	}
	if n != s.nareas {
		return fmt.Errorf("tree holds %d areas, space counts %d", n, s.nareas)
	}
	// No page may be present outside an area.
	s.pt.Range(0, (s.end-s.base)>>pageShift, func(pn uint64, _ *pagetable.Slot) {
		if err != nil {
			return
		}
		addr := s.base + pn<<pageShift
		if _, ok := snap.Find(addr); !ok {
			err = fmt.Errorf("page present at %#x outside any area", addr)
		}
	})
	return err
}

// drainTransient waits for a quiet area's lock word c (above 1) to come
// back to 1, and returns the count it ends with. Quiet means that no
// reader of this space is in flight, but a stale lockless reader of
// another space may hold a transient reference: it found this area before
// it was freed and recycled here, and its increment succeeded on the
// attached area (vma_start_read's refcount_inc on a recycled VMA). It puts
// the reference back as soon as it sees the area's space is not its own
// (tryReadLock), a few instructions later, so such a reference always
// drains; a leaked one never does. The wait is bounded so that a leak is
// still reported, with the count it left.
func drainTransient(a *Area, c uint32) uint32 {
	if h := quietWaitHook; h != nil {
		h(a)
	}
	start := time.Now()
	for c > 1 && c < arealock.ExcludeReaders && time.Since(start) < transientDrainBound {
		if time.Since(start) < time.Millisecond {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
		c = a.lock.Count()
	}
	return c
}

var (
	// transientDrainBound is how long a quiet check waits for a
	// transient reference before it calls it a leak: far longer than a
	// stale reader holds one, unless the reader is stopped by a test.
	transientDrainBound = 5 * time.Second
	// quietWaitHook, set by tests, runs when a quiet check starts to
	// wait for a transient reference.
	quietWaitHook func(*Area)
)

// PeekPage copies the contents of the page at addr into buf (at least
// PageSize bytes) and reports whether a page is mapped there (the zero page
// counts, and reads as zeroes) and whether the slot holds a guard marker.
// It takes no lock: it is for checkers that keep the page still
// themselves, such as a hook inside a write session that holds the areas
// over addr write-locked, or a test on a quiesced space.
func (s *Space) PeekPage(addr uint64, buf []byte) (present, guard bool) {
	slot := s.pt.Slot((addr - s.base) >> pageShift)
	for {
		p := slot.Load()
		switch {
		case p == frames.None:
			clear(buf[:PageSize])
			return false, false
		case p == frames.Guard:
			clear(buf[:PageSize])
			return false, true
		case p == frames.Zero:
			clear(buf[:PageSize])
			return true, false
		}
		// Held like a fault's read, in case the caller's stillness
		// has a gap: bytes of a frame freed since would not be ours.
		if !s.mem.TryRef(p) {
			continue
		}
		if slot.Load() != p {
			s.mem.Unref(p)
			continue
		}
		s.mem.Read(p, 0, buf[:PageSize])
		s.mem.Unref(p)
		return true, false
	}
}
