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
	// Shared is true for a shared mapping ('s' in /proc/self/maps: the
	// area has VM_MAYSHARE, so a read-only file mapped shared lists as
	// shared though it has no VM_SHARED).
	Shared bool
	// Offset is the byte offset into the file or shared object; 0 for
	// private anonymous memory, as /proc/self/maps shows it.
	Offset uint64
	// File is the identity of the mapped file, and Path its name; both
	// zero for memory that maps no file.
	File FileID
	Path string
	// Heap marks an anonymous area that overlaps the heap's range
	// [start_brk, brk) (vma_is_initial_heap), listed as "[heap]".
	Heap bool
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

// Name is the last field of the /proc/self/maps line: the file's path,
// "[heap]", "[stack]" for a growsdown area, "/dev/zero (deleted)" for
// shared anonymous memory, or "".
func (m Mapping) Name() string {
	switch {
	case m.Path != "":
		return m.Path
	case m.Heap:
		return "[heap]"
	case m.Shared && m.File == (FileID{}):
		return "/dev/zero (deleted)"
	case m.Flags&VMGrowsDown != 0:
		return "[stack]"
	}
	return ""
}

// Maps returns the layout. It reads one published snapshot of the tree,
// so the listing is consistent (the layout as of one moment), never waits
// for writers and never makes them wait.
func (s *Space) Maps() []Mapping {
	snap := s.tree.Snapshot()
	defer snap.Release()
	startBrk, brk := s.BrkRange()
	out := make([]Mapping, 0, snap.Len())
	snap.Ascend(0, func(it tree.Item[entry]) bool {
		e := it.Val
		m := Mapping{Start: it.Start, End: it.End, Flags: e.flags, Shared: e.flags&VMMayShare != 0}
		switch {
		case e.obj != nil && e.obj.file != nil:
			m.Offset, m.File, m.Path = e.pgoff<<pageShift, e.obj.fid, e.obj.file.Path()
		case e.obj != nil:
			m.Offset = e.pgoff << pageShift
		default:
			m.Heap = it.Start < brk && it.End > startBrk
		}
		out = append(out, m)
		return true
	})
	return out
}

// devMajorMinor splits a device number encoded as stat's st_dev (glibc's
// and the kernel's new_encode_dev) into major and minor.
func devMajorMinor(dev uint64) (major, minor uint64) {
	major = (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)
	minor = dev&0xff | (dev>>12)&^uint64(0xff)
	return major, minor
}

// WriteMaps writes the layout in /proc/self/maps form: range,
// permissions, offset, device as major:minor in hex, inode, name.
func (s *Space) WriteMaps(w io.Writer) error {
	for _, m := range s.Maps() {
		major, minor := devMajorMinor(m.File.Dev)
		line := fmt.Sprintf("%08x-%08x %s %08x %02x:%02x %d", m.Start, m.End, m.Perms(), m.Offset, major, minor, m.File.Ino)
		if name := m.Name(); name != "" {
			line = fmt.Sprintf("%-73s%s", line+" ", name)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}
