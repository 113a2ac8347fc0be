package shadow

import "sort"

// fileInfo is what the kernel shows of a file mapping: the file's
// identity and, for one range, the file offset at its start.
type fileInfo struct {
	Offset  uint64 // file offset at the range's start
	Dev     string // "fe:00"
	Inode   uint64
	Path    string
	Private bool
}

// fileRange is a range of the mirror that stands for a file (or a special
// area such as [vdso]) the mirror cannot hold yet.
type fileRange struct {
	Start, End uint64
	fileInfo
}

// fileSet records which ranges of a mirror are placeholders for file and
// special areas, and what the kernel would show for them. vmspace holds
// such a range as a shared anonymous area of its own (one object per
// placeholder, so it never merges with a neighbour, as the kernel never
// merges a file area with an anonymous one); fileSet follows the ranges
// through munmap, mmap over them and mremap. Sorted by Start, disjoint.
type fileSet struct {
	r []fileRange
}

func (fs *fileSet) clone() fileSet {
	return fileSet{r: append([]fileRange(nil), fs.r...)}
}

// lookup returns the range covering addr.
func (fs *fileSet) lookup(addr uint64) (fileRange, bool) {
	i := sort.Search(len(fs.r), func(i int) bool { return fs.r[i].End > addr })
	if i < len(fs.r) && fs.r[i].Start <= addr {
		return fs.r[i], true
	}
	return fileRange{}, false
}

// remove takes [start, end) out of the set, trimming and splitting the
// ranges it crosses (their offsets follow their starts).
func (fs *fileSet) remove(start, end uint64) {
	if start >= end {
		return
	}
	var out []fileRange
	for _, r := range fs.r {
		if r.End <= start || r.Start >= end {
			out = append(out, r)
			continue
		}
		if r.Start < start {
			l := r
			l.End = start
			out = append(out, l)
		}
		if r.End > end {
			h := r
			h.Offset += end - r.Start
			h.Start = end
			out = append(out, h)
		}
	}
	fs.r = out
}

// add puts [start, end) with info in the set, replacing what was there.
func (fs *fileSet) add(start, end uint64, info fileInfo) {
	fs.remove(start, end)
	i := sort.Search(len(fs.r), func(i int) bool { return fs.r[i].Start >= start })
	fs.r = append(fs.r, fileRange{})
	copy(fs.r[i+1:], fs.r[i:])
	fs.r[i] = fileRange{Start: start, End: end, fileInfo: info}
}

// pieces returns the parts of the set inside [start, end), clipped.
func (fs *fileSet) pieces(start, end uint64) []fileRange {
	var out []fileRange
	for _, r := range fs.r {
		if r.End <= start || r.Start >= end {
			continue
		}
		if r.Start < start {
			r.Offset += start - r.Start
			r.Start = start
		}
		if r.End > end {
			r.End = end
		}
		out = append(out, r)
	}
	return out
}

// remap follows a successful mremap of [old, old+oldLen) to newLen bytes
// at addr (mremap's answer): the file ranges move with the pages, a
// mapping grown past its last range keeps the file going at the next
// offset (the kernel grows the same area, vma_expand / copy_vma), and
// unless dontUnmap the source goes.
func (fs *fileSet) remap(old, oldLen, newLen, addr uint64, dontUnmap bool) {
	keep := min(oldLen, newLen)
	if oldLen == 0 { // mremap(old, 0, n) duplicates a shared mapping
		keep = newLen
	}
	moved := fs.pieces(old, old+keep)
	if addr == old {
		if newLen < oldLen {
			fs.remove(old+newLen, old+oldLen)
		} else if newLen > oldLen {
			if r, ok := fs.lookup(old + oldLen - 1); ok && r.End == old+oldLen {
				info := r.fileInfo
				info.Offset += old + oldLen - r.Start
				fs.add(old+oldLen, old+newLen, info)
			} else {
				fs.remove(old+oldLen, old+newLen)
			}
		}
		return
	}
	if !dontUnmap && oldLen != 0 {
		fs.remove(old, old+oldLen)
	}
	fs.remove(addr, addr+newLen)
	var last *fileRange
	for _, p := range moved {
		p.Start += addr - old
		p.End += addr - old
		fs.add(p.Start, p.End, p.fileInfo)
		q := p
		last = &q
	}
	if newLen > keep && last != nil && last.End == addr+keep {
		info := last.fileInfo
		info.Offset += last.End - last.Start
		fs.add(addr+keep, addr+newLen, info)
	}
}
