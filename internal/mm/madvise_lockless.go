package mm

import (
	"syscall"

	"github.com/vmspace/vmspace/internal/frames"
	"github.com/vmspace/vmspace/internal/lockcheck"
	"github.com/vmspace/vmspace/internal/pagetable"
)

// adviseUnderAreaLock drops or frees the pages of [start, end) under the
// covering area's read lock instead of the space lock, when the range lies
// inside one area (Linux 6.16+: madvise_lock takes MADVISE_VMA_READ_LOCK
// for MADV_DONTNEED, MADV_DONTNEED_LOCKED and MADV_FREE, through
// lock_vma_under_rcu, and falls back to mmap_lock when the range spans
// areas). This keeps a thread that recycles its own memory (fault in,
// drop, fault in again: allocators, the bench's F) off the space lock, so
// layout changes elsewhere do not stall it.
//
// It reports done=false when the caller must take the slow path: in
// whole-space mode, when the lockless lookup gives up, or when the range
// leaves the area.
//
// Safety: zapping a slot races only with faults on the same area, which
// hold the same read lock and install pages with compare-and-swap; each
// slot is emptied with a compare-and-swap too, so a fault either installs
// before the zap (and its page is dropped) or after (and finds an empty
// slot). Writers cannot touch these slots: they would have to write-lock
// the area first, and it is read-locked.
//
// A zapped frame can be freed here while a fault that loaded it still
// wants its bytes; such a fault holds a reference taken after a re-check
// of the slot (holdFrame), so the frame waits for it, and a fault that had
// not taken its reference yet finds the slot changed and looks again.
// MADV_FREE marks a frame only while holding it the same way, so that a
// frame freed and reused by another owner is never marked.
func (s *Space) adviseUnderAreaLock(start, end uint64, adv Advice) (done bool, err error) {
	if s.mode != PerArea || s.hasObserver.Load() {
		// An observer sees page drops at commit only (observer.go).
		return false, nil
	}
	a := s.lockAreaLockless(start)
	if a == nil {
		return false, nil
	}
	lockcheck.AreaRead(a, s)
	defer func() {
		lockcheck.AreaReadRelease(a)
		a.readUnlock(s)
	}()
	if end > a.end {
		return false, nil
	}
	if adv != AdviseDontNeedLocked && a.flags&VMLocked != 0 {
		return true, syscall.EINVAL // madvise_dontneed_free_valid_vma
	}
	lo, hi := (start-s.base)>>pageShift, (end-s.base)>>pageShift
	if adv == AdviseFree {
		if a.shm != nil { // not vma_is_anonymous: shmem or a file
			return true, syscall.EINVAL // only anonymous memory is freed lazily
		}
		mem := s.mem
		s.pt.Range(lo, hi, func(_ uint64, slot *pagetable.Slot) {
			if p := slot.Load(); p.Ordinary() && mem.Exclusive(p) && s.holdFrame(a, slot, p) {
				if mem.Exclusive(p) {
					mem.MarkClean(p)
				}
				mem.Unref(p)
			}
		})
		return true, nil
	}
	s.zapUnderAreaLock(lo, hi)
	return true, nil
}

// zapUnderAreaLock empties the slots of pages [lo, hi), keeping guard
// markers, with a compare-and-swap per slot, since faults under the same
// area read lock may install pages beside it (zap_page_range_single under
// the per-VMA lock). Precondition: the area over the range is read-locked.
func (s *Space) zapUnderAreaLock(lo, hi uint64) {
	s.pt.Range(lo, hi, func(_ uint64, slot *pagetable.Slot) {
		for {
			p := slot.Load()
			if p == frames.None || p == frames.Guard {
				return
			}
			if slot.CompareAndSwap(p, frames.None) {
				if p.Ordinary() {
					s.mem.Unmap(p)
				}
				return
			}
		}
	})
}
