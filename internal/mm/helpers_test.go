package mm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vmspace/vmspace/internal/frames"
)

const (
	pg = PageSize
	rw = ProtRead | ProtWrite
	ro = ProtRead
	// tbase is where test layouts live.
	tbase = 0x10000000
)

var priv = MapPrivate | MapAnonymous

// newSpace returns a space with the given mode and recycling and the
// Linux default range, closed at the end of the test with its invariants
// checked.
func newSpace(t testing.TB, mode LockMode, recycle bool, hooks *Hooks) *Space {
	t.Helper()
	c := DefaultConfig()
	c.Mode, c.Recycle, c.Hooks = mode, recycle, hooks
	return newSpaceWith(t, c)
}

// newSpaceWith returns a space made with c, closed at the end of the test
// with its invariants checked.
func newSpaceWith(t testing.TB, c Config) *Space {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.CheckInvariants(true); err != nil {
			t.Errorf("invariants at the end: %v", err)
		}
		s.Close()
	})
	return s
}

// forConfigs runs f in both lock modes with recycling on and off.
func forConfigs(t *testing.T, f func(t *testing.T, mode LockMode, recycle bool)) {
	for _, mode := range []LockMode{PerArea, WholeSpace} {
		for _, rec := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/recycle=%v", mode, rec), func(t *testing.T) { f(t, mode, rec) })
		}
	}
}

// layout renders the areas as "start-end perms" lines relative to tbase,
// in pages: "0-3 rw-p".
func layout(s *Space) string {
	var b []string
	for _, m := range s.Maps() {
		b = append(b, fmt.Sprintf("%d-%d %s", int64(m.Start-tbase)/pg, int64(m.End-tbase)/pg, m.Perms()))
	}
	return strings.Join(b, ", ")
}

func mustMap(t testing.TB, s *Space, page, pages uint64, prot Prot) {
	t.Helper()
	if _, err := s.Map(tbase+page*pg, pages*pg, prot, priv|MapFixed); err != nil {
		t.Fatalf("Map(%d, %d): %v", page, pages, err)
	}
}

func mustFault(t testing.TB, s *Space, page uint64, acc Access) {
	t.Helper()
	if err := s.Fault(tbase+page*pg, acc); err != nil {
		t.Fatalf("Fault(%d, %v): %v", page, acc, err)
	}
}

func faultCode(err error) FaultCode {
	var fe *FaultError
	if errors.As(err, &fe) {
		return fe.Code
	}
	return 0
}

func isErrno(err error, e syscall.Errno) bool { return errors.Is(err, e) }

// snapshotContents returns the first byte of every present page in
// [tbase, tbase+n pages) and whether each is present.
func snapshotContents(s *Space, n uint64) string {
	var b strings.Builder
	for i := uint64(0); i < n; i++ {
		p := s.pt.Lookup((tbase + i*pg - s.base) >> pageShift)
		switch {
		case p == frames.None:
			b.WriteByte('.')
		case p == frames.Zero:
			b.WriteByte('z')
		default:
			fmt.Fprintf(&b, "%02x", s.mem.ByteAt(p, 0))
		}
		b.WriteByte(' ')
	}
	return b.String()
}

type itemT = treeItem

// layoutSnap is what a failed call must leave exactly as it was: the
// layout and the contents of every present page in a range.
type layoutSnap struct {
	maps  []Mapping
	pages map[uint64][]byte // by page number
}

// takeLayout records the layout and the pages of [lo, hi).
func takeLayout(s *Space, lo, hi uint64) layoutSnap {
	sn := layoutSnap{maps: s.Maps(), pages: map[uint64][]byte{}}
	for pn := (lo - s.base) >> pageShift; pn < (hi-s.base)>>pageShift; pn++ {
		pg := s.pt.Lookup(pn)
		switch {
		case pg == frames.None:
		case pg == frames.Guard:
			sn.pages[pn] = []byte("guard marker")
		default:
			b := make([]byte, PageSize)
			s.mem.Read(pg, 0, b)
			sn.pages[pn] = b
		}
	}
	return sn
}

// diff describes the first difference, or returns "".
func (a layoutSnap) diff(b layoutSnap) string {
	if !slices.Equal(a.maps, b.maps) {
		return fmt.Sprintf("layout\n %s\nbecame\n %s", mdlLayout(a.maps), mdlLayout(b.maps))
	}
	if len(a.pages) != len(b.pages) {
		return fmt.Sprintf("%d present pages became %d", len(a.pages), len(b.pages))
	}
	for pn, d := range a.pages {
		if !bytes.Equal(d, b.pages[pn]) {
			return fmt.Sprintf("page %#x changed", pn)
		}
	}
	return ""
}
