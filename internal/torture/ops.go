package torture

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"github.com/vmspace/vmspace/internal/mm"
)

// result is what an operation reports about itself. Violations are
// reported separately, through worker.violate.
type result uint8

const (
	ok          result = iota // the call succeeded
	failed                    // the call failed with an error it may return
	unsupported               // the library does not implement it (yet)
)

// op is one kind of operation. Adding an operation is one function and one
// line in ops.
type op struct {
	name   string
	weight int
	// moves: the operation can move page contents to another address,
	// which weakens the content check; it runs only in phases that
	// allow it.
	moves bool
	run   func(w *worker, t *tspace) result
}

var ops = []op{
	{"fault", 16, false, opFault},
	{"read-own", 12, false, opReadOwn},
	{"write-own", 14, false, opWriteOwn},
	{"read-page", 5, false, opReadPage},
	{"map-fixed", 8, false, opMapFixed},
	{"map-any", 3, false, opMapAny},
	{"unmap", 7, false, opUnmap},
	{"protect", 8, false, opProtect},
	{"mincore", 2, false, opMincore},
	{"maps", 2, false, opMaps},
	{"lock-area", 3, false, opLockArea},
	{"advise", 4, false, opAdvise},
	{"remap", 5, true, opRemap},
	{"fork", 1, false, opFork},
	{"map-stack", 2, false, opMapStack},
	{"map-locked", 2, false, opMapLocked},
}

var protChoices = [...]mm.Prot{
	mm.ProtNone, mm.ProtRead, mm.ProtRead | mm.ProtWrite, mm.ProtRead | mm.ProtWrite,
	mm.ProtRead | mm.ProtExec, mm.ProtRead | mm.ProtWrite | mm.ProtExec, mm.ProtWrite,
}

func (w *worker) prot() mm.Prot { return protChoices[w.rng.IntN(len(protChoices))] }

// pageRange picks a run of 1..8 pages inside the window (page index, count).
func (w *worker) pageRange(t *tspace) (int, int) {
	n := 1 + w.rng.IntN(min(8, t.pages))
	return w.rng.IntN(t.pages - n + 1), n
}

// errIs reports whether err is one of the errnos.
func errIs(err error, errnos ...syscall.Errno) bool {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// layoutResult classifies the error of a layout call: allowed errnos are a
// failure, ENOSYS means unsupported, anything else is a violation.
func (w *worker) layoutResult(what string, err error, allowed ...syscall.Errno) result {
	switch {
	case err == nil:
		return ok
	case errors.Is(err, syscall.ENOSYS):
		return unsupported
	case errIs(err, allowed...):
		return failed
	}
	w.violate("%s: unexpected error %v", what, err)
	return failed
}

// faultResult checks the error of a fault, read or write at addr.
func (w *worker) faultResult(what string, addr uint64, err error) result {
	if err == nil {
		return ok
	}
	if errors.Is(err, mm.ErrSigbus) {
		// Past the end of a shared object (a shared mapping that
		// remap grew): SIGBUS, as in Linux.
		return failed
	}
	var fe *mm.FaultError
	if !errors.As(err, &fe) || (fe.Code != mm.MapErr && fe.Code != mm.AccErr) {
		w.violate("%s at %#x: unexpected error %v", what, addr, err)
	} else if fe.Addr != addr&^(mm.PageSize-1) && fe.Addr != addr {
		w.violate("%s at %#x: fault error names %#x", what, addr, fe.Addr)
	}
	return failed
}

func opFault(w *worker, t *tspace) result {
	addr := t.base + w.rng.Uint64N(uint64(t.pages)*mm.PageSize)
	acc := mm.Access(w.rng.IntN(3))
	return w.faultResult("fault", addr, t.s.Fault(addr, acc))
}

func opReadOwn(w *worker, t *tspace) result {
	p := w.rng.IntN(t.pages)
	addr := t.pageAddr(p) + uint64(w.id)
	var b [1]byte
	if _, err := t.s.ReadAt(b[:], addr); err != nil {
		return w.faultResult("read", addr, err)
	}
	if err := t.checkOwn(w.id, p, b[0]); err != nil {
		w.violate("read-own: %v", err)
	}
	return ok
}

func opWriteOwn(w *worker, t *tspace) result {
	p := w.rng.IntN(t.pages)
	addr := t.pageAddr(p) + uint64(w.id)
	w.ctr++
	v := byte(1 + w.ctr%255)
	since, racing := t.writing(w.id, p)
	_, err := t.s.WriteAt([]byte{v}, addr)
	t.writeReturned(w.id, p)
	if err != nil {
		return w.faultResult("write", addr, err)
	}
	t.wrote(w.id, p, v, since, racing)
	return ok
}

func opReadPage(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	n = min(n, 2)
	buf := w.buf[:n*mm.PageSize]
	addr := t.pageAddr(p)
	got, err := t.s.ReadAt(buf, addr)
	if got%mm.PageSize != 0 && err == nil {
		w.violate("read-page at %#x: %d bytes without an error", addr, got)
	}
	for i := 0; i < got/mm.PageSize; i++ {
		if cerr := t.checkPage(w.id, p+i, buf[i*mm.PageSize:(i+1)*mm.PageSize]); cerr != nil {
			w.violate("read-page: %v", cerr)
		}
	}
	if err != nil {
		return w.faultResult("read-page", addr+uint64(got), err)
	}
	return ok
}

func (w *worker) mapFlags() mm.MapFlags {
	f := mm.MapPrivate | mm.MapAnonymous
	if w.rng.IntN(5) == 0 {
		f = mm.MapShared | mm.MapAnonymous
	}
	if w.rng.IntN(10) == 0 {
		f |= mm.MapNoReserve
	}
	if w.rng.IntN(20) == 0 {
		f |= mm.MapPopulate
	}
	return f
}

func opMapFixed(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	f := w.mapFlags() | mm.MapFixed
	if w.rng.IntN(4) == 0 {
		f = f&^mm.MapFixed | mm.MapFixedNoReplace
	}
	return w.mapAt(t, "map-fixed", p, n, w.prot(), f)
}

// mapAt maps n pages at page p with flags f (MapFixed or
// MapFixedNoReplace), counting a MapFixed one as a discard of the range.
func (w *worker) mapAt(t *tspace, what string, p, n int, prot mm.Prot, f mm.MapFlags) result {
	addr, length := t.pageAddr(p), uint64(n)*mm.PageSize
	if f&mm.MapFixed != 0 {
		defer t.discarding(p, n)()
	}
	got, err := t.s.Map(addr, length, prot, f)
	if err == nil && got != addr {
		w.violate("%s at %#x returned %#x", what, addr, got)
	}
	return w.layoutResult(what, err, syscall.EEXIST, syscall.ENOMEM)
}

// opMapStack maps a growsdown area (a stack); faults in the guard gap
// below it grow it (expand_stack), and the other operations split, merge
// and protect it like any area.
func opMapStack(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	f := mm.MapPrivate | mm.MapAnonymous | mm.MapGrowsDown | mm.MapFixed
	r := w.mapAt(t, "map-stack", p, n, mm.ProtRead|mm.ProtWrite, f)
	if r == ok && p > 0 {
		// Touch the page below: the stack grows over it if the gap
		// allows (the window is smaller than the guard gap, so it
		// does only where nothing is mapped below in the window).
		addr := t.pageAddr(p-1) + uint64(w.rng.IntN(mm.PageSize))
		w.faultResult("stack fault", addr, t.s.Fault(addr, mm.Write))
	}
	return r
}

// opMapLocked maps locked memory (MAP_LOCKED: populated now, and refusing
// MADV_DONTNEED, MADV_PAGEOUT and guard regions with EINVAL; mprotect
// making it writable populates it for writing).
func opMapLocked(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	return w.mapAt(t, "map-locked", p, n, w.prot(), w.mapFlags()|mm.MapLocked|mm.MapFixed)
}

func opMapAny(w *worker, t *tspace) result {
	_, n := w.pageRange(t)
	length := uint64(n) * mm.PageSize
	hint := uint64(0)
	if w.rng.IntN(2) == 0 {
		hint = t.pageAddr(w.rng.IntN(t.pages))
	}
	got, err := t.s.Map(hint, length, w.prot(), w.mapFlags())
	if err == nil && (got < t.base || got+length > t.pageAddr(t.pages) || got%mm.PageSize != 0) {
		w.violate("map-any of %#x bytes returned %#x, outside the window", length, got)
	}
	return w.layoutResult("map-any", err, syscall.ENOMEM)
}

func opUnmap(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	defer t.discarding(p, n)()
	return w.layoutResult("unmap", t.s.Unmap(t.pageAddr(p), uint64(n)*mm.PageSize), syscall.ENOMEM)
}

func opProtect(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	return w.layoutResult("protect", t.s.Protect(t.pageAddr(p), uint64(n)*mm.PageSize, w.prot()), syscall.ENOMEM)
}

func opMincore(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	v, err := t.s.Mincore(t.pageAddr(p), uint64(n)*mm.PageSize)
	if err == nil && len(v) != n {
		w.violate("mincore of %d pages gave %d", n, len(v))
	}
	return w.layoutResult("mincore", err, syscall.ENOMEM)
}

func opMaps(w *worker, t *tspace) result {
	if err := checkMaps(t.s.Maps(), t.base, t.pageAddr(t.pages)); err != nil {
		w.violate("maps: %v", err)
	}
	return ok
}

// opLockArea holds an area read lock for a moment and checks that the area
// does not change under it. Nothing that takes the space lock may be called
// while holding it.
func opLockArea(w *worker, t *tspace) result {
	addr := t.pageAddr(w.rng.IntN(t.pages))
	h, err := t.s.LockArea(addr)
	if err != nil {
		if errors.Is(err, mm.ErrClosed) {
			w.violate("lock-area at %#x: %v", addr, err)
			return failed
		}
		return w.faultResult("lock-area", addr, err)
	}
	start, end, flags := h.Start(), h.End(), h.Flags()
	if addr < start || addr >= end {
		w.violate("lock-area at %#x gave [%#x, %#x)", addr, start, end)
	}
	for range 2 {
		runtime.Gosched()
	}
	if h.Start() != start || h.End() != end || h.Flags() != flags {
		w.violate("area at %#x changed while read-locked: [%#x,%#x) %#x -> [%#x,%#x) %#x",
			addr, start, end, flags, h.Start(), h.End(), h.Flags())
	}
	h.Unlock()
	return ok
}

// advices are Linux's MADV_* values that keep a page's contents or zero
// them: both are what the shadow allows.
var advices = [...]mm.Advice{0, 1, 2, 3, 4, 8, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}

func opAdvise(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	adv := advices[w.rng.IntN(len(advices))]
	if adv == mm.AdviseDontNeed || adv == mm.AdvisePageout {
		defer t.discarding(p, n)()
	}
	err := t.s.Advise(t.pageAddr(p), uint64(n)*mm.PageSize, adv)
	// EFAULT: MADV_POPULATE_* met a page that would fault (a guard
	// region), as madvise(2) documents.
	return w.layoutResult(fmt.Sprintf("advise %d", adv), err, syscall.EINVAL, syscall.ENOMEM, syscall.EAGAIN, syscall.EPERM, syscall.EFAULT)
}

func opRemap(w *worker, t *tspace) result {
	p, n := w.pageRange(t)
	newN := 1 + w.rng.IntN(8)
	var flags mm.RemapFlags
	newAddr := uint64(0)
	switch w.rng.IntN(4) {
	case 0:
	case 1:
		flags = mm.RemapMayMove
	case 2:
		flags = mm.RemapMayMove | mm.RemapFixed
		newAddr = t.pageAddr(w.rng.IntN(t.pages - newN + 1))
	case 3:
		flags = mm.RemapMayMove | mm.RemapDontUnmap
		newN = n
	}
	t.moved.Store(true)
	defer t.discarding(0, t.pages)() // the source, the target, a shrunk tail
	t.remapMu.Lock()
	t.moves = t.moves[:0]
	got, err := t.s.Remap(t.pageAddr(p), uint64(n)*mm.PageSize, uint64(newN)*mm.PageSize, flags, newAddr)
	moves := t.moves
	t.moves = nil
	t.remapMu.Unlock()
	if err == nil && (got < t.base || got+uint64(newN)*mm.PageSize > t.pageAddr(t.pages) || got%mm.PageSize != 0) {
		w.violate("remap returned %#x, outside the window", got)
	}
	if err == nil {
		t.checkMoves(w, moves)
	}
	return w.layoutResult("remap", err, syscall.EINVAL, syscall.ENOMEM, syscall.EFAULT, syscall.EAGAIN)
}

// moveRec is one page a Remap moved, as the Move hook saw it just before
// the move: its contents, and for its target page the write counts of
// every worker and the discard count.
type moveRec struct {
	to     int // target page index
	guard  bool
	data   []byte
	writes []uint32
	disc   uint64
}

// moveHook is the Move hook of t's space: it records the pages about to
// move. It runs in the goroutine of the Remap, which holds t.remapMu.
func (t *tspace) moveHook(from, to, length uint64) {
	maps := t.s.Maps() // published already: the target area is in it
	for off := uint64(0); off < length; off += mm.PageSize {
		q := t.pageOf(to + off)
		if to+off < t.base || q >= t.pages || sharedAt(maps, to+off) {
			// A shared page's contents are its object's, which other
			// mappings of it may change, and an absent slot of a
			// shared area is not a zero page.
			continue
		}
		r := moveRec{to: q, data: make([]byte, mm.PageSize), writes: make([]uint32, t.nslots)}
		_, r.guard = t.s.PeekPage(from+off, r.data)
		for w := range r.writes {
			r.writes[w] = t.writes[w*t.pages+q].Load()
		}
		// A write or a discard that started before the move may land
		// after it (it waits for the space lock this Remap holds):
		// those slots, or that page, cannot be checked. The Remap's own
		// discard count is the one in flight that is allowed.
		for w := range r.writes {
			if t.writesDone[w*t.pages+q].Load() != r.writes[w] {
				r.writes[w] = ^uint32(0) // in flight: skip
			}
		}
		e := t.discEnd[q].Load()
		r.disc = t.discStart[q].Load()
		if r.disc-e > 1 {
			continue
		}
		t.moves = append(t.moves, r)
	}
}

func sharedAt(maps []mm.Mapping, addr uint64) bool {
	for _, m := range maps {
		if addr >= m.Start && addr < m.End {
			return m.Shared
		}
	}
	return false
}

// checkMoves checks, after a Remap returned, that each page it moved holds
// at its target what the source held at the move: every slot that its
// owner has not written since and that nothing may have discarded since
// (a write into the page through a fault that began before the move, on a
// source the Remap did not write-lock, would change it).
func (t *tspace) checkMoves(w *worker, moves []moveRec) {
	if len(moves) == 0 {
		return
	}
	for range 4 {
		runtime.Gosched() // let a stray write land
	}
	buf := w.buf[:mm.PageSize]
	for _, r := range moves {
		if r.guard {
			continue
		}
		if _, guard := t.s.PeekPage(t.pageAddr(r.to), buf); guard {
			continue
		}
		if t.discStart[r.to].Load() != r.disc {
			continue
		}
		for o := range r.writes {
			if buf[o] != r.data[o] && r.writes[o] != ^uint32(0) && t.writes[o*t.pages+r.to].Load() == r.writes[o] && t.discStart[r.to].Load() == r.disc {
				w.violate("remap: page %#x slot %d holds %#x, the source held %#x at the move and no one wrote or discarded it since", t.pageAddr(r.to), o, buf[o], r.data[o])
			}
		}
	}
}

// forker is the fork call, once the library has it.
type forker interface {
	Fork() (*mm.Space, error)
}

// forkSnap is the parent as it was at the moment of a Fork: its layout
// and the contents of every page of the window, taken by the child's hook
// at the end of the child's session, while Fork still holds the parent's
// space lock for writing and every parent area write-locked.
type forkSnap struct {
	maps  []mm.Mapping
	pages [][]byte // nil: no page (or a guard marker)
}

// snapForChild returns the hooks Fork gives the children of t: at the
// child's commit they record the parent in t.forkSnap. The hook runs in the
// goroutine that called Fork, which holds t.forkMu.
func (t *tspace) snapForChild() *mm.Hooks {
	return &mm.Hooks{At: func(p mm.HookPoint, _ *mm.Area) {
		if p != mm.HookAfterCommit {
			return
		}
		sn := &forkSnap{maps: t.s.Maps(), pages: make([][]byte, t.pages)}
		for i := range sn.pages {
			b := make([]byte, mm.PageSize)
			if present, _ := t.s.PeekPage(t.pageAddr(i), b); present {
				sn.pages[i] = b
			}
		}
		t.forkSnap = sn
	}}
}

// opFork forks the space and checks the child while no one else touches
// it: strictly (invariants), and its contents exactly: every byte of every
// page must be what the parent held at the moment of the fork (a page of
// a VM_WIPEONFORK area empty, a VM_DONTCOPY area absent), also after the
// parent's workers had a chance to write (a write into a page the fork
// shared would show in the child).
func opFork(w *worker, t *tspace) result {
	f, can := any(t.s).(forker)
	if !can {
		return unsupported
	}
	t.forkMu.Lock()
	t.forkSnap = nil
	child, err := f.Fork()
	sn := t.forkSnap
	t.forkMu.Unlock()
	if err != nil {
		return w.layoutResult("fork", err, syscall.ENOMEM)
	}
	defer child.Close()
	if err := child.CheckInvariants(true); err != nil {
		w.violate("fork: child: %v", err)
	}
	if sn == nil {
		w.violate("fork: the child's hook took no snapshot of the parent")
		return ok
	}
	for range 4 {
		runtime.Gosched() // let a stray write of the parent land
	}
	buf := w.buf[:mm.PageSize]
	ct := &tspace{s: child, base: t.base, pages: t.pages, nslots: t.nslots}
	for p := 0; p < t.pages; p++ {
		addr := t.pageAddr(p)
		var flags mm.Flags
		mapped := false
		for _, m := range sn.maps {
			if addr >= m.Start && addr < m.End {
				flags, mapped = m.Flags, true
			}
		}
		present, guard := child.PeekPage(addr, buf)
		want := sn.pages[p]
		switch {
		case !mapped || flags&mm.VMDontCopy != 0:
			if present || guard {
				w.violate("fork: child: a page at %#x, where the child has no area", addr)
			}
			continue
		case flags&mm.VMShared != 0 || guard:
			// Shared: the parent's later writes are the child's too.
			// A guard marker is copied as it is.
			continue
		case flags&mm.VMWipeOnFork != 0 || want == nil:
			want = zeroPage[:]
		}
		// An absent page reads as zeroes (the child refaults it).
		if !bytes.Equal(buf, want) {
			i := 0
			for buf[i] == want[i] {
				i++
			}
			w.violate("fork: child: page %#x byte %d is %#x, the parent held %#x at the fork", addr, i, buf[i], want[i])
			continue
		}
		if cerr := ct.checkNoOwner(p, buf); cerr != nil {
			w.violate("fork: child: %v", cerr)
		}
	}
	return ok
}

var zeroPage [mm.PageSize]byte
