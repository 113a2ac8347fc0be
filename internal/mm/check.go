package mm

import (
	"fmt"
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/arealock"
	"github.com/vmspace/vmspace/internal/pagetable"
	"github.com/vmspace/vmspace/internal/tree"
)

// CheckInvariants checks the space's structural invariants and returns the
// first violation found: the tree is ordered and well formed, areas do not
// overlap and lie inside the range, every area in the tree is allocated
// (never attached and freed), attached, unlocked by any writer, and agrees
// with its tree entry, and no page is present outside an area. With quiet
// set (no fault or handle in flight), every area's lock word must be back
// at exactly 1. It holds the space lock for reading while it looks.
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
		case a.start != it.Start || a.end != it.End || a.flags != it.Val.flags:
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
	s.pt.Range(0, (s.end-s.base)>>pageShift, func(pn uint64, _ *atomic.Pointer[pagetable.Page]) {
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
