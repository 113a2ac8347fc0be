package mm

import (
	"github.com/vmspace/vmspace/internal/frames"
	"github.com/vmspace/vmspace/internal/pagetable"
)

// pageOpKind is a kind of page-table work a session does at commit.
type pageOpKind uint8

const (
	// opClear empties the slots, guard markers included (munmap: the
	// kernel frees the page tables with the VMA).
	opClear pageOpKind = iota
	// opMove moves the slots of [start, end) to [to, to+end-start), guard
	// markers included (mremap's move_page_tables).
	opMove
	// opZap drops the pages and keeps guard markers (MADV_DONTNEED:
	// zap_page_range_single without ZAP_FLAG_DROP_MARKER).
	opZap
	// opLazyFree marks the exclusively mapped private pages lazy-free
	// (MADV_FREE: madvise_free_pte_range).
	opLazyFree
	// opPageout drops the lazy-free pages that were not written since:
	// reclaim discards clean lazy-free folios, and with no swap it can do
	// nothing else with anonymous memory (MADV_PAGEOUT).
	opPageout
	// opPageoutShared drops, from the slots and from the shared object,
	// the object's pages mapped only here and never written: reclaim
	// frees a clean, unmapped page-cache folio, and with no swap it can do
	// nothing with a dirty shmem one (MADV_PAGEOUT on a shared mapping).
	opPageoutShared
	// opGuardInstall drops the pages and fills every slot with a guard
	// marker (MADV_GUARD_INSTALL).
	opGuardInstall
	// opGuardRemove empties the slots that hold guard markers
	// (MADV_GUARD_REMOVE).
	opGuardRemove
	// opWriteFault does what a write fault on each page does to a private
	// area's slots, stopping at a guard marker as GUP stops at its
	// fault (populate_vma_page_range with FOLL_WRITE); in a private file
	// mapping an empty slot gets a copy of the file's page, and the walk
	// stops past the end of the file.
	opWriteFault
)

// pageOp is one piece of page-table work on [start, end).
type pageOp struct {
	kind       pageOpKind
	start, end uint64
	to         uint64 // opMove: the destination of start

	// opPageoutShared, opWriteFault: the object mapped (nil for
	// anonymous memory), and the page offset of start in it.
	shm   *shmObject
	pgoff uint64
}

// movePages schedules the move of the slots of [from, from+length) to
// [to, to+length) for commit.
func (x *session) movePages(from, to, length uint64) {
	x.pageOps = append(x.pageOps, pageOp{kind: opMove, start: from, end: from + length, to: to})
}

// pageWork schedules page-table work of kind k on [start, end) for commit.
func (x *session) pageWork(k pageOpKind, start, end uint64) {
	x.pageOps = append(x.pageOps, pageOp{kind: k, start: start, end: end})
}

// pageoutShared schedules opPageoutShared on [start, end) of the shared
// area a.
func (x *session) pageoutShared(a *Area, start, end uint64) {
	x.pageOps = append(x.pageOps, pageOp{kind: opPageoutShared, start: start, end: end,
		shm: a.shm, pgoff: a.pgoff + (start-a.start)>>pageShift})
}

// applyPageOps does the session's page-table work, in the order it was
// scheduled. It runs at commit, after the new tree is published: every
// area covering the ranges, old or new, is write-locked in this session
// (or detached), so no fault can reach these slots until the session ends,
// and each slot's mapping keeps its frame alive while it is worked on
// (other spaces may map the same frames after Fork, and only read them).
func (x *session) applyPageOps() {
	s := x.s
	mem := s.mem
	for _, op := range x.pageOps {
		lo, hi := (op.start-s.base)>>pageShift, (op.end-s.base)>>pageShift
		switch op.kind {
		case opClear:
			s.pt.Clear(lo, hi)
		case opMove:
			if h := s.hooks; h != nil && h.Move != nil {
				h.Move(op.start, op.to, op.end-op.start)
			}
			s.pt.Move(lo, (op.to-s.base)>>pageShift, hi-lo)
		case opZap:
			s.pt.Range(lo, hi, func(_ uint64, slot *pagetable.Slot) {
				if p := slot.Load(); p != frames.Guard {
					slot.Store(frames.None)
					if p.Ordinary() {
						mem.Unmap(p)
					}
				}
			})
		case opLazyFree:
			s.pt.Range(lo, hi, func(_ uint64, slot *pagetable.Slot) {
				if p := slot.Load(); p.Ordinary() && mem.Exclusive(p) {
					mem.MarkClean(p)
				}
			})
		case opPageout:
			s.pt.Range(lo, hi, func(_ uint64, slot *pagetable.Slot) {
				if p := slot.Load(); p.Ordinary() && mem.Exclusive(p) && mem.Clean(p) {
					slot.Store(frames.None)
					mem.Unmap(p)
				}
			})
		case opPageoutShared:
			s.pt.Range(lo, hi, func(pn uint64, slot *pagetable.Slot) {
				p := slot.Load()
				switch {
				case !p.Ordinary():
				case !mem.Shared(p):
					// A private copy in a private file mapping:
					// anonymous memory, as opPageout.
					if mem.Exclusive(p) && mem.Clean(p) {
						slot.Store(frames.None)
						mem.Unmap(p)
					}
				case mem.Maps(p) == 2 && mem.Clean(p):
					// Mapped by this slot alone: the object's
					// mapping and this one (folio_mapcount == 1).
					slot.Store(frames.None)
					mem.Unmap(p)
					op.shm.drop(op.pgoff+pn-lo, p)
				}
			})
		case opGuardInstall:
			for pn := lo; pn < hi; pn++ {
				if p := s.pt.Slot(pn).Swap(frames.Guard); p.Ordinary() {
					mem.Unmap(p)
				}
			}
		case opWriteFault:
			for pn := lo; pn < hi; pn++ {
				slot := s.pt.Slot(pn)
				switch p := slot.Load(); {
				case p == frames.Guard:
					pn = hi
				case p == frames.None && op.shm != nil:
					src := op.shm.page(op.pgoff + pn - lo)
					if src == frames.None {
						pn = hi // SIGBUS: GUP stops
						break
					}
					if f, err := mem.AllocCopy(src, 0); err == nil {
						slot.Store(f)
					}
					mem.Unmap(src) // the mapping page took for this slot
				case p == frames.None || p == frames.Zero:
					// Out of memory leaves the page to a later fault, as
					// a failed populate does (mprotect_fixup ignores it).
					if f, err := mem.Alloc(0); err == nil {
						slot.Store(f)
					}
				case !mem.Exclusive(p):
					// As a fault's copy (installCopy): installed only
					// if p is still shared under the page-table lock.
					// The area is write-locked, so no fault of this
					// space races here; the lock orders this install
					// against the faults of the spaces p is shared
					// with, as in a fault. The slot's mapping keeps p
					// alive while it is copied.
					np, err := mem.AllocCopy(p, 0)
					if err != nil {
						break
					}
					ptl := s.pt.PTL(pn)
					ptl.Lock()
					if mem.Maps(p) > 1 {
						slot.Store(np)
						mem.Unmap(p)
					} else {
						mem.Redirty(p) // the other mapping went: reuse
					}
					ptl.Unlock()
					if slot.Load() != np {
						mem.Discard(np, 0)
					}
				default:
					mem.Redirty(p)
				}
			}
		case opGuardRemove:
			s.pt.Range(lo, hi, func(_ uint64, slot *pagetable.Slot) {
				if slot.Load() == frames.Guard {
					slot.Store(frames.None)
				}
			})
		}
	}
}

// writeFaultLocked does inside a session what write faults on every page
// of [start, end) of the private area a would do, as mprotect_fixup does
// for locked memory made writable: a gets its anon_vma now (choosing from
// the layout as it is at this point of the session), and the pages become
// private pages of its own at commit.
// Precondition: x is open; [start, end) lies in a; a is write-locked.
func (x *session) writeFaultLocked(a *Area, start, end uint64) {
	x.anonPrepareLocked(a)
	op := pageOp{kind: opWriteFault, start: start, end: end}
	if a.shm != nil {
		op.shm, op.pgoff = a.shm, a.objIndex(start)
	}
	x.pageOps = append(x.pageOps, op)
}
