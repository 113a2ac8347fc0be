//go:build linux && (amd64 || arm64)

package kernel

import "github.com/vmspace/vmspace/internal/script"

// The engine runs inside the process it tests, so a call with a wild
// offset or length could unmap or zap the Go heap. Before any call that
// changes or reads memory, the engine works out what the kernel would act
// on and refuses (ErrOutsideArena) if that reaches a VMA outside the
// arena. Calls the kernel rejects up front pass through, so that their
// errors are answered for real.

// reach says how far a call acts on the range it is given.
type reach int

const (
	// reachAll: every VMA in the range (madvise walks them all, skipping
	// holes; madvise_walk_vmas).
	reachAll reach = iota
	// reachTaskSize: every VMA in the range, but a range ending beyond
	// TASK_SIZE is rejected first (MAP_FIXED in __get_unmapped_area,
	// munmap in do_vmi_munmap, the mremap target and source).
	reachTaskSize
	// reachChain: the run of adjacent VMAs from the start up to the first
	// hole (mprotect stops there with ENOMEM).
	reachChain
)

// checkRange refuses a call on [addr, addr+length) that could act on a
// VMA outside the arena.
func (e *Engine) checkRange(addr, length uint64, how reach) error {
	start := addr &^ (pageSize - 1)
	span := length + (addr - start)
	l := pageAlign(span)
	end := start + l
	if length == 0 || span < length || l == 0 || end < start {
		return nil // nothing, or PAGE_ALIGN/end overflow: rejected up front
	}
	if how == reachTaskSize && end > e.taskSize {
		return nil
	}
	if start >= e.arenaLo && end <= e.arenaHi {
		return nil
	}
	vmas, err := readMaps()
	if err != nil {
		return err
	}
	if how == reachChain {
		at := start
		for _, v := range vmas {
			if v.end <= at {
				continue
			}
			if v.start > at || at >= end {
				break // a hole, or the end of the range
			}
			if e.foreign(v) {
				return ErrOutsideArena
			}
			at = v.end
		}
		return nil
	}
	for _, v := range vmas {
		if v.start < end && v.end > start && e.foreign(v) {
			return ErrOutsideArena
		}
	}
	return nil
}

// checkAccess refuses a byte access to memory outside the arena that is
// mapped (it could be the Go heap). An unmapped first page is answered
// without the access, as the checkptr instrumentation of -race forbids
// even forming a pointer there: SEGV_MAPERR, as the kernel would say.
func (e *Engine) checkAccess(addr uint64) error {
	if e.inArena(addr) {
		return nil
	}
	vmas, err := readMaps()
	if err != nil {
		return err
	}
	if _, ok := covering(vmas, addr); ok {
		return ErrOutsideArena
	}
	if addr < pageSize {
		return script.ErrSegvMaperr
	}
	return nil
}

// foreign reports whether v is no VMA of the engine's: it does not overlap
// the arena. (A VMA can reach out of the arena only by growing from it.)
func (e *Engine) foreign(v vma) bool { return v.end <= e.arenaLo || v.start >= e.arenaHi }
