package mm

import (
	"io"
	"sync"
	"syscall"
)

// MemFile is a File in memory, for tests and for spaces that map files
// they hold themselves. It is safe for concurrent use.
type MemFile struct {
	id   FileID
	path string
	r, w bool

	noExec, noMmap bool

	mu   sync.Mutex
	data []byte
}

// NewMemFile returns a file of size zero bytes with identity id and path, open for
// reading, and for writing if writable is set.
func NewMemFile(id FileID, path string, size int64, writable bool) *MemFile {
	return &MemFile{id: id, path: path, r: true, w: writable, data: make([]byte, size)}
}

func (f *MemFile) ID() FileID        { return f.id }
func (f *MemFile) Path() string      { return f.path }
func (f *MemFile) Readable() bool    { return f.r }
func (f *MemFile) Writable() bool    { return f.w }
func (f *MemFile) SetMode(r, w bool) { f.r, f.w = r, w }

func (f *MemFile) Size() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.data)), nil
}

func (f *MemFile) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *MemFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	return copy(f.data[off:], p), nil
}

func (f *MemFile) Truncate(size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if size <= int64(len(f.data)) {
		f.data = f.data[:size]
	} else {
		f.data = append(f.data, make([]byte, size-int64(len(f.data)))...)
	}
	return nil
}

// SetNoExec puts the file on a noexec mount (or takes it off).
func (f *MemFile) SetNoExec(on bool) { f.noExec = on }

// NoExec reports whether the file is on a noexec mount.
func (f *MemFile) NoExec() bool { return f.noExec }

// SetNoMmap makes the file one that cannot be mapped (ENODEV).
func (f *MemFile) SetNoMmap(on bool) { f.noMmap = on }

// NoMmap reports whether the file cannot be mapped.
func (f *MemFile) NoMmap() bool { return f.noMmap }
