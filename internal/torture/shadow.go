package torture

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/mm"
)

// tspace is one space under torture with its content shadow.
//
// The shadow is what a sequential reading of each worker's own history
// allows. Worker w is the only writer of byte w of every page (its slot),
// so:
//
//   - a byte at an offset no worker owns is always 0;
//   - w's read of its slot on page p gives last[w][p], or 0 if something
//     may have discarded the page since w wrote it: an operation that can
//     drop a page's contents (unmap, map-fixed over it, MADV_DONTNEED,
//     MADV_PAGEOUT, and in phases that allow it a remap anywhere in the
//     window) counts itself in discStart[p] before it starts and in
//     discEnd[p] after it returns. w notes discStart[p] (and whether a
//     discard was in flight) when it starts a write; a 0 is allowed only if
//     a discard was in flight then or has started since. So a write that
//     two racing faults lost, which reads back as 0 (or as an older value),
//     is a violation. Once w has read 0 it records 0, because nothing but
//     w's own write can make that byte non-zero again.
//
// Operations that move pages between addresses (Remap) break the second
// rule for non-zero values: w's value written at page p may turn up at
// page q. Once such an operation has started in a space (moved), any
// non-zero value is accepted in a slot (w may have written it somewhere);
// zeroes keep the rule above (a remap counts as a discard of the whole
// window). Phases alternate between allowing those
// operations and not, so the strict rule is checked in half of every run.
type tspace struct {
	s      *mm.Space
	base   uint64
	pages  int
	nslots int // bytes 0..nslots-1 of each page are slots; the rest stay 0

	// last[w][p] is touched only by worker w while the phase runs, and by
	// the phase's final check after every worker has stopped; so are
	// since[w][p] (discStart[p] when w started that write) and
	// racing[w][p] (a discard was in flight then).
	last   [][]byte
	since  [][]uint64
	racing [][]bool

	// discStart[p] and discEnd[p] count the operations that may discard
	// page p, when they start and when they end.
	discStart, discEnd []atomic.Uint64

	// moved is set before the first content-moving operation starts.
	moved atomic.Bool

	// writes[w*pages+p] counts w's writes to its slot on page p that
	// started, writesDone those that returned (bumped by w only; read by
	// the remap check).
	writes, writesDone []atomic.Uint32

	// remapMu serializes this space's remaps in the torture, so that the
	// records the Move hook makes (moves) are read by the worker whose
	// Remap made them (see opRemap).
	remapMu sync.Mutex
	moves   []moveRec

	// forkMu serializes this space's forks in the torture, so that the
	// snapshot the child's hook takes (forkSnap) is read by the worker
	// that forked (see opFork).
	forkMu   sync.Mutex
	forkSnap *forkSnap
}

func newTSpace(s *mm.Space, base uint64, pages, workers int) *tspace {
	t := &tspace{s: s, base: base, pages: pages, nslots: workers,
		last: make([][]byte, workers), since: make([][]uint64, workers), racing: make([][]bool, workers),
		discStart: make([]atomic.Uint64, pages), discEnd: make([]atomic.Uint64, pages),
		writes: make([]atomic.Uint32, workers*pages), writesDone: make([]atomic.Uint32, workers*pages)}
	for w := range t.last {
		t.last[w] = make([]byte, pages)
		t.since[w] = make([]uint64, pages)
		t.racing[w] = make([]bool, pages)
	}
	return t
}

func (t *tspace) pageAddr(p int) uint64 { return t.base + uint64(p)*mm.PageSize }

// pageOf returns the page index of addr in the window, clamped to it.
func (t *tspace) pageOf(addr uint64) int {
	if addr < t.base {
		return 0
	}
	return min(int((addr-t.base)/mm.PageSize), t.pages)
}

// discarding counts an operation that may discard the pages [p, p+n) as
// started, and returns the function that counts it as ended.
func (t *tspace) discarding(p, n int) func() {
	p, end := max(p, 0), min(p+n, t.pages)
	for i := p; i < end; i++ {
		t.discStart[i].Add(1)
	}
	return func() {
		for i := p; i < end; i++ {
			t.discEnd[i].Add(1)
		}
	}
}

// checkNoOwner checks that the bytes of page p that no worker owns are 0.
func (t *tspace) checkNoOwner(p int, buf []byte) error {
	for off := t.nslots; off < len(buf); off++ {
		if buf[off] != 0 {
			return fmt.Errorf("page %#x byte %#x is %#x: no one writes there", t.pageAddr(p), off, buf[off])
		}
	}
	return nil
}

// checkPage checks a whole page read by worker w (or by the final check,
// w < 0) at page index p. It records the owner's observation of 0.
func (t *tspace) checkPage(w, p int, buf []byte) error {
	if err := t.checkNoOwner(p, buf); err != nil {
		return err
	}
	if w >= 0 {
		return t.checkOwn(w, p, buf[w])
	}
	for o := 0; o < t.nslots; o++ {
		if err := t.checkOwn(o, p, buf[o]); err != nil {
			return err
		}
	}
	return nil
}

// checkOwn checks value v read from w's slot on page p, by w itself or by
// the final check after every worker stopped. The caller's read has
// returned.
func (t *tspace) checkOwn(w, p int, v byte) error {
	last := t.last[w][p]
	switch {
	case v == last:
		return nil
	case v == 0:
		if t.racing[w][p] || t.discStart[p].Load() != t.since[w][p] {
			t.last[w][p] = 0
			return nil
		}
		return fmt.Errorf("page %#x slot %d holds 0, but its owner wrote %#x there and nothing discarded the page since", t.pageAddr(p), w, last)
	case t.moved.Load():
		return nil // any non-zero byte is a value w may have written somewhere
	}
	return fmt.Errorf("page %#x slot %d holds %#x, but its owner last wrote %#x there (or saw 0)", t.pageAddr(p), w, v, last)
}

// writing notes, before w writes its slot on page p, which discards may
// land after the write, and counts the write as started.
func (t *tspace) writing(w, p int) (since uint64, racing bool) {
	t.writes[w*t.pages+p].Add(1)
	e := t.discEnd[p].Load()
	since = t.discStart[p].Load()
	return since, since != e
}

// writeReturned counts w's write to its slot on page p as returned,
// whether it succeeded or not.
func (t *tspace) writeReturned(w, p int) { t.writesDone[w*t.pages+p].Add(1) }

// wrote records w's successful write of v to its slot on page p, started
// when writing returned since and racing.
func (t *tspace) wrote(w, p int, v byte, since uint64, racing bool) {
	t.last[w][p], t.since[w][p], t.racing[w][p] = v, since, racing
}
