package torture

import (
	"fmt"
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
//   - w's read of its slot on page p gives last[w][p] or 0. last[w][p] is
//     the value of w's last successful write there; 0 can appear at any
//     time (another worker unmapped, replaced or discarded the page), and
//     once w has read 0 it records 0, because nothing but w's own write
//     can make that byte non-zero again.
//
// Operations that move pages between addresses (Remap) break the second
// rule: w's value written at page p may turn up at page q. Once such an
// operation has started in a space (moved), reads of a slot only check
// that the value is 0 or one w could have written (any non-zero byte).
// Phases alternate between allowing those operations and not, so the
// strict rule is checked in half of every run.
type tspace struct {
	s      *mm.Space
	base   uint64
	pages  int
	nslots int // bytes 0..nslots-1 of each page are slots; the rest stay 0

	// last[w][p] is touched only by worker w while the phase runs, and by
	// the phase's final check after every worker has stopped.
	last [][]byte

	// moved is set before the first content-moving operation starts.
	moved atomic.Bool
}

func newTSpace(s *mm.Space, base uint64, pages, workers int) *tspace {
	t := &tspace{s: s, base: base, pages: pages, nslots: workers, last: make([][]byte, workers)}
	for w := range t.last {
		t.last[w] = make([]byte, pages)
	}
	return t
}

func (t *tspace) pageAddr(p int) uint64 { return t.base + uint64(p)*mm.PageSize }

// checkPage checks a whole page read by worker w (or by the final check,
// w < 0) at page index p. It records the owner's observation of 0.
func (t *tspace) checkPage(w, p int, buf []byte) error {
	for off := t.nslots; off < len(buf); off++ {
		if buf[off] != 0 {
			return fmt.Errorf("page %#x byte %#x is %#x: no one writes there", t.pageAddr(p), off, buf[off])
		}
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
// the final check after every worker stopped.
func (t *tspace) checkOwn(w, p int, v byte) error {
	if t.moved.Load() {
		return nil // any byte is a value w may have written somewhere
	}
	last := t.last[w][p]
	switch v {
	case 0:
		t.last[w][p] = 0
		return nil
	case last:
		return nil
	}
	return fmt.Errorf("page %#x slot %d holds %#x, but its owner last wrote %#x there (or saw 0)", t.pageAddr(p), w, v, last)
}

// wrote records w's successful write of v to its slot on page p.
func (t *tspace) wrote(w, p int, v byte) { t.last[w][p] = v }
