package vmspace

import (
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/vmspace/vmspace/internal/mm"
)

// FileID identifies a file as /proc/PID/maps does: device (encoded as
// stat's st_dev) and inode number.
type FileID = mm.FileID

// File is what MapFile maps: an identity, a path for the listing, a size
// that can change, and page reads. vmspace keeps one page cache per
// FileID, shared by all mappings of the file in every space of the
// process; OSFile adapts an *os.File and MemFile is a file in memory.
type File = mm.File

// MapFile maps length bytes of f from byte offset off (mmap with a file
// descriptor): MapPrivate for a private copy (pages read from f, copied
// on the first write), MapShared to map f itself (writes reach f's page
// cache and every other shared mapping of f). An access to a page wholly
// past the end of f is a SIGBUS (ErrSigbus); the rest of the last page
// reads as zeroes. Errors are Linux's: EINVAL for an unaligned off,
// EOVERFLOW when off+length overflows, EACCES for a file not open for
// reading or for a shared writable mapping of a file not open for
// writing.
func (s *Space) MapFile(addr, length uint64, prot Prot, flags MapFlags, f File, off uint64) (uint64, error) {
	return s.s.MapFile(addr, length, prot, flags, f, off)
}

// Truncate sets f's size (ftruncate) and applies it to every mapping of f:
// pages wholly past the new end are unmapped everywhere, private copies
// included, and later accesses there get SIGBUS; the page cache's part of
// the last page past the end reads as zeroes. It takes the space lock of
// each space that maps f, so it must not be called while holding an Area
// of one of them.
func Truncate(f File, size int64) error { return mm.Truncate(f, size) }

// WriteBack writes the page-cache pages of f that shared mappings wrote
// back to f (msync).
func WriteBack(f File) error { return mm.WriteBack(f) }

// Evict writes f's dirty cached pages back and forgets its page cache. A
// file's page cache otherwise lives as long as the process, as the
// kernel keeps it after the last mapping goes: what a shared mapping
// wrote shows in the next mapping of the file. Call Evict when no mapping
// of f is left.
func Evict(f File) error { return mm.Evict(f) }

// Brk moves the program break to addr and returns the break after the
// call, as brk(2) does: the new one on success, the old one when it
// cannot move. Brk(0) reports the break.
func (s *Space) Brk(addr uint64) uint64 { return s.s.Brk(addr) }

// SetBrk sets the start of the heap and the break without mapping
// anything (prctl PR_SET_MM_START_BRK and PR_SET_MM_BRK; what exec leaves).
func (s *Space) SetBrk(start, brk uint64) { s.s.SetBrk(start, brk) }

// BrkRange returns the start of the heap and the break.
func (s *Space) BrkRange() (start, brk uint64) { return s.s.BrkRange() }

// WithBrk sets where the heap starts (start_brk, and the first break).
// Without it the space has no heap and Brk cannot grow one.
func WithBrk(start uint64) Option { return func(c *mm.Config) { c.StartBrk = start } }

// MemFile is a File in memory, for tests and for spaces that map files
// they hold themselves. It is safe for concurrent use.
type MemFile = mm.MemFile

// NewMemFile returns a file of size zero bytes with identity id and path,
// open for reading, and for writing if writable is set.
func NewMemFile(id FileID, path string, size int64, writable bool) *MemFile {
	return mm.NewMemFile(id, path, size, writable)
}

// osFile adapts an *os.File (OSFile).
type osFile struct {
	f              *os.File
	id             FileID
	r, w           bool
	noExec, noMmap bool
}

// OSFile adapts an open *os.File: its identity is its device and inode,
// its path f.Name(), and its open mode says whether it may be mapped
// shared and writable; a file on a noexec mount (Linux) cannot be mapped
// executable, and a directory cannot be mapped at all.
func OSFile(f *os.File) (File, error) {
	id, r, w, err := osIdent(f)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return &osFile{f: f, id: id, r: r, w: w, noExec: mountNoExec(f), noMmap: fi.IsDir()}, nil
}

func (o *osFile) NoExec() bool { return o.noExec }
func (o *osFile) NoMmap() bool { return o.noMmap }

func (o *osFile) ID() FileID     { return o.id }
func (o *osFile) Path() string   { return o.f.Name() }
func (o *osFile) Readable() bool { return o.r }
func (o *osFile) Writable() bool { return o.w }

func (o *osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (o *osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o *osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o *osFile) Truncate(size int64) error                { return o.f.Truncate(size) }

// FileRef is a File known only by its identity, path and size, whose
// contents read as zeroes: what a tracer that mirrors another process's
// mappings (from /proc/PID/maps and stat) needs to map a file whose bytes
// do not matter to it. Writes are dropped. It is safe for concurrent use.
type FileRef struct {
	id     FileID
	path   string
	r, w   bool
	mu     sync.Mutex
	size   int64
	noExec bool
}

// NewFileRef returns a FileRef. dev is encoded as stat's st_dev (for a
// major:minor pair from /proc/PID/maps, unix.Mkdev(major, minor)).
func NewFileRef(id FileID, path string, size int64, readable, writable bool) *FileRef {
	return &FileRef{id: id, path: path, size: size, r: readable, w: writable}
}

func (f *FileRef) ID() FileID     { return f.id }
func (f *FileRef) Path() string   { return f.path }
func (f *FileRef) Readable() bool { return f.r }
func (f *FileRef) Writable() bool { return f.w }

// SetNoExec marks the file as one on a noexec mount.
func (f *FileRef) SetNoExec(on bool) { f.noExec = on }

// NoExec reports whether the file is on a noexec mount.
func (f *FileRef) NoExec() bool { return f.noExec }

func (f *FileRef) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size, nil
}

// ReadAt reads zeroes inside the size.
func (f *FileRef) ReadAt(p []byte, off int64) (int, error) {
	size, _ := f.Size()
	if off >= size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), size-off))
	clear(p[:n])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt drops the bytes.
func (f *FileRef) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// Truncate sets the size (call it through the package's Truncate).
func (f *FileRef) Truncate(size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.size = size
	return nil
}
