package mm

import (
	"errors"
	"io"
	"sync"
	"syscall"
	"weak"

	"github.com/vmspace/vmspace/internal/frames"
)

// FileID identifies a file as the kernel does in /proc/PID/maps: the
// device (dev_t, as the kernel encodes it) and the inode number. Two
// mappings map the same file exactly when their FileIDs are equal.
type FileID struct {
	Dev, Ino uint64
}

// File is what a file mapping maps (the kernel's struct file and its
// inode, in small). vmspace keeps one page cache per FileID, shared by
// every mapping of that file in every space of this process: pages are
// read from the File once, on the first fault that needs them, and writes
// through shared mappings stay in that cache until WriteBack.
type File interface {
	// ID is the file's identity.
	ID() FileID
	// Path is the name the listing shows.
	Path() string
	// Size is the current size in bytes (i_size).
	Size() (int64, error)
	// ReadAt reads page contents; bytes past the end of the file read
	// as zeroes.
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes page contents back (WriteBack).
	WriteAt(p []byte, off int64) (int, error)
	// Truncate changes the size (ftruncate). Call it through the
	// package's Truncate so that mappings see the change.
	Truncate(size int64) error
	// Readable and Writable give the open mode (FMODE_READ,
	// FMODE_WRITE): a shared writable mapping needs Writable, every
	// mapping needs Readable.
	Readable() bool
	Writable() bool
}

// A File may also have NoExec() bool, true for a file on a noexec mount
// (an executable mapping fails with EPERM and mprotect cannot add
// PROT_EXEC later), and NoMmap() bool, true for a file that cannot be
// mapped at all, such as a directory (ENODEV).

// files is the page-cache registry: one object per FileID, kept after
// the last mapping goes, as the kernel keeps a file's page cache (a file
// written through a shared mapping, unmapped and mapped again shows what
// was written), until Evict.
var files struct {
	sync.Mutex
	m map[FileID]*shmObject
}

// fileObject returns the page cache of f, creating it on first use with
// f's current size.
func fileObject(f File) (*shmObject, error) {
	id := f.ID()
	files.Lock()
	defer files.Unlock()
	if o := files.m[id]; o != nil {
		return o, nil
	}
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	// A file's page cache is shared by every space of the process, so
	// its frames come from the process's arena (a space on another arena
	// cannot map files: mmap refuses).
	o := &shmObject{id: anonIDs.Add(1), file: f, fid: id, mem: frames.Default()}
	o.bytes.Store(size)
	o.mu.pages = make(map[uint64]frames.Frame)
	o.mu.spaces = make(map[weak.Pointer[Space]]struct{})
	freeWithObject(o) // after Evict and the last mapping
	if files.m == nil {
		files.m = make(map[FileID]*shmObject)
	}
	files.m[id] = o
	return o, nil
}

// lookupFileObject returns the page cache of id, if there is one.
func lookupFileObject(id FileID) *shmObject {
	files.Lock()
	defer files.Unlock()
	return files.m[id]
}

// Evict writes f's dirty cached pages back to f and forgets its page
// cache, so that the next mapping of f reads f afresh (as dropping the
// inode from the cache would). Call it when no mapping of f is left:
// areas that still map f keep the old cache, apart from new mappings.
func Evict(f File) error {
	if err := WriteBack(f); err != nil {
		return err
	}
	files.Lock()
	defer files.Unlock()
	delete(files.m, f.ID())
	return nil
}

// addSpace records that s maps o, so that a truncation can find the
// mappings to zap (the kernel's i_mmap tree, at the granularity of a
// space).
func (o *shmObject) addSpace(s *Space) {
	if o == nil || o.file == nil {
		return
	}
	o.mu.Lock()
	o.mu.spaces[weak.Make(s)] = struct{}{}
	o.mu.Unlock()
}

// spaces returns the live spaces that have mapped o.
func (o *shmObject) spaces() []*Space {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*Space
	for w := range o.mu.spaces {
		if s := w.Value(); s != nil {
			out = append(out, s)
		} else {
			delete(o.mu.spaces, w)
		}
	}
	return out
}

// fill reads the page at offset idx of o's file into p; bytes past the
// end of the file stay zero (the partial last page).
// Precondition: o.mu held; p not yet published.
func (o *shmObject) fill(p frames.Frame, idx uint64, size int64) error {
	off := int64(idx << pageShift)
	n := min(int64(PageSize), size-off)
	if n <= 0 {
		return nil
	}
	buf := make([]byte, n)
	if _, err := o.file.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	o.mem.Write(p, 0, buf)
	return nil
}

// Truncate changes f's size to size as ftruncate does, and applies the
// change to every mapping of f in every space of this process
// (truncate_setsize, truncate_pagecache): pages wholly past the new end
// are unmapped everywhere, private copies included (unmap_mapping_range
// with even_cows), and dropped from the page cache; the part of the last
// page past the end reads as zeroes in the page cache, while private
// copies keep their bytes. An access past the end then gets SIGBUS.
// Guard markers stay. A negative size fails with EINVAL.
func Truncate(f File, size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	o := lookupFileObject(f.ID())
	if o == nil {
		return nil
	}
	old := o.bytes.Swap(size)
	if size >= old {
		return nil
	}
	// The new size is published first, so no fault can map a page past
	// it from here on; then the mappings are zapped; then the cache.
	first := pagesOf(size)
	for _, s := range o.spaces() {
		s.zapObjectFrom(o, first)
	}
	o.truncatePages(size)
	return nil
}

// pagesOf is the number of pages a file of size bytes has (DIV_ROUND_UP).
func pagesOf(size int64) uint64 {
	if size <= 0 {
		return 0
	}
	return (uint64(size) + pageMask) >> pageShift
}

// truncatePages drops o's cached pages past size and zeroes the tail of
// the page that holds the new end (truncate_inode_pages_range and its
// partial-folio zeroing).
func (o *shmObject) truncatePages(size int64) {
	first := pagesOf(size)
	o.mu.Lock()
	defer o.mu.Unlock()
	for idx, p := range o.mu.pages {
		if idx >= first {
			delete(o.mu.pages, idx)
			o.mem.Unmap(p)
		}
	}
	if tail := uint64(size) & pageMask; tail != 0 {
		if p, ok := o.mu.pages[first-1]; ok {
			for off := tail; off < PageSize; off++ {
				o.mem.SetByte(p, off, 0)
			}
		}
	}
}

// zapObjectFrom unmaps, in s, every page of every area mapping o whose
// page offset is first or more (unmap_mapping_range on s's part of the
// i_mmap tree). It takes the space lock for writing and write-locks the
// areas it zaps, as any session does, so no fault on them is in flight.
func (s *Space) zapObjectFrom(o *shmObject, first uint64) {
	x := s.begin()
	defer x.end()
	if s.closed {
		x.abort()
		return
	}
	var zap []*Area
	x.view().Ascend(0, func(it treeItem) bool {
		if a := it.Val.a; a.shm == o && a.pgoff+a.pages() > first {
			zap = append(zap, a)
		}
		return true
	})
	for _, a := range zap {
		start := a.start
		if first > a.pgoff {
			start += (first - a.pgoff) << pageShift
		}
		x.lockArea(a)
		x.pageWork(opZap, start, a.end)
	}
	x.commit()
}

// WriteBack writes the pages of f's page cache that mappings made dirty
// back to f (the part inside its size), as msync or writeback would.
func WriteBack(f File) error {
	o := lookupFileObject(f.ID())
	if o == nil {
		return nil
	}
	size := o.bytes.Load()
	o.mu.Lock()
	defer o.mu.Unlock()
	buf := make([]byte, PageSize)
	for idx, p := range o.mu.pages {
		if o.mem.Clean(p) {
			continue
		}
		off := int64(idx << pageShift)
		n := min(int64(PageSize), size-off)
		if n <= 0 {
			continue
		}
		o.mem.Read(p, 0, buf[:n]) // the object's mapping holds p
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return nil
}
