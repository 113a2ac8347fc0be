package mm

import (
	"fmt"
	"io"

	"github.com/vmspace/vmspace/internal/tree"
)

// Mapping is one line of a layout listing.
type Mapping struct {
	Start, End uint64
	Flags      Flags
	// Shared is true for a shared mapping ('s' in /proc/self/maps).
	Shared bool
}

// Prot returns the mapping's protection.
func (m Mapping) Prot() Prot { return m.Flags.Prot() }

// Perms renders the permissions as /proc/self/maps does ("rw-p").
func (m Mapping) Perms() string {
	c := byte('p')
	if m.Shared {
		c = 's'
	}
	return m.Prot().String() + string(c)
}

// Maps returns the layout. It reads one published snapshot of the tree,
// so the listing is consistent (the layout as of one moment), never waits
// for writers and never makes them wait.
func (s *Space) Maps() []Mapping {
	snap := s.tree.Snapshot()
	defer snap.Release()
	out := make([]Mapping, 0, snap.Len())
	snap.Ascend(0, func(it tree.Item[entry]) bool {
		out = append(out, Mapping{Start: it.Start, End: it.End, Flags: it.Val.flags, Shared: it.Val.flags&VMShared != 0})
		return true
	})
	return out
}

// WriteMaps writes the layout in /proc/self/maps form.
func (s *Space) WriteMaps(w io.Writer) error {
	for _, m := range s.Maps() {
		name := ""
		if m.Shared {
			name = "/dev/zero (deleted)"
		} else if m.Flags&VMGrowsDown != 0 {
			name = "[stack]"
		}
		line := fmt.Sprintf("%08x-%08x %s %08x 00:00 0", m.Start, m.End, m.Perms(), 0)
		if name != "" {
			line = fmt.Sprintf("%-73s%s", line+" ", name)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}
