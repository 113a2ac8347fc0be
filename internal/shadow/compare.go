package shadow

import (
	"strings"

	"github.com/vmspace/vmspace"
)

// render lists the mirror as /proc/PID/maps would show it; placeholders
// (special areas) with what the kernel showed for them.
func (s *space) render() []Line {
	ms := s.sp.Maps()
	out := make([]Line, 0, len(ms))
	for _, m := range ms {
		l := Line{Start: m.Start, End: m.End, Perms: m.Perms(), Offset: m.Offset, Dev: "00:00", Path: m.Name()}
		switch {
		case m.File != (vmspace.FileID{}):
			l.Dev = devString(m.File.Dev)
			l.Inode = m.File.Ino
		case m.Shared:
			if fr, ok := s.files.lookup(m.Start); ok {
				c := "s"
				if fr.Private {
					c = "p"
				}
				l.Perms = l.Perms[:3] + c
				l.Offset = fr.Offset + (m.Start - fr.Start)
				l.Dev, l.Inode, l.Path = fr.Dev, fr.Inode, fr.Path
			} else {
				l.Dev = "00:01"
			}
		}
		out = append(out, l)
	}
	return out
}

// normalize drops what the comparison leaves out of the kernel's lines:
// areas above the user range ([vsyscall]), and the shmem inode of shared
// anonymous areas, which vmspace does not number.
func normalize(lines []Line) []Line {
	out := make([]Line, 0, len(lines))
	for _, l := range lines {
		if l.End > userEnd {
			continue
		}
		if l.Perms[3] == 's' && strings.HasPrefix(l.Path, "/dev/zero") {
			l.Inode, l.Dev = 0, "00:01"
		}
		out = append(out, l)
	}
	return out
}

// same compares two lines on what the listing says of a layout: range,
// permissions, shared/private, offset, dev:inode and the name.
func same(a, b Line) bool {
	return a.Start == b.Start && a.End == b.End && a.Perms == b.Perms &&
		a.Offset == b.Offset && a.Dev == b.Dev && a.Inode == b.Inode && samePath(a.Path, b.Path)
}

// firstDiff returns the index of the first line where the mirror's layout
// and the kernel's differ, or -1.
func firstDiff(mine, kernel []Line) int {
	for i := 0; i < len(mine) || i < len(kernel); i++ {
		if i >= len(mine) || i >= len(kernel) || !same(mine[i], kernel[i]) {
			return i
		}
	}
	return -1
}

func lineAt(ls []Line, i int) string {
	if i < len(ls) {
		return ls[i].String()
	}
	return "(no line)"
}

// samePath compares the names of a line of the mirror (mine) and of the
// kernel: equal, or the kernel's with " (deleted)" added, for a file
// unlinked after it was mapped (d_path names the unlinked dentry so; an
// unlink changes no layout, so the mirror keeps the name it mapped).
func samePath(mine, kernel string) bool {
	return mine == kernel || mine+" (deleted)" == kernel
}
