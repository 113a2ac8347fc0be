//go:build linux && amd64

package shadow

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
)

// procFile is the mirror's stand-in for a file the traced process maps:
// its identity, path and size as the kernel has them, and its open mode.
// Its pages read as zeroes: the layout never depends on contents, and
// reading every library the program maps would double the I/O.
type procFile struct {
	id     vmspace.FileID
	path   string
	size   int64
	r, w   bool
	noExec bool
	noMmap bool
	thp    bool
}

func (f *procFile) ID() vmspace.FileID     { return f.id }
func (f *procFile) Path() string           { return f.path }
func (f *procFile) Size() (int64, error)   { return f.size, nil }
func (f *procFile) Readable() bool         { return f.r }
func (f *procFile) Writable() bool         { return f.w }
func (f *procFile) NoExec() bool           { return f.noExec }
func (f *procFile) NoMmap() bool           { return f.noMmap }
func (f *procFile) THPAligned() bool       { return f.thp }
func (f *procFile) Truncate(n int64) error { f.size = n; return nil }
func (f *procFile) WriteAt(p []byte, off int64) (int, error) {
	return len(p), nil
}
func (f *procFile) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}

// Open-mode bits of /proc/PID/fdinfo's flags (octal, as open(2) has them).
const (
	oAccMode = 03
	oWrOnly  = 01
	oRdWr    = 02
	oPath    = 010000000
)

// fdFile describes a traced process's descriptor as mmap sees it: the
// file behind /proc/PID/fd/N (stat follows the link to the open file,
// deleted or not), its open mode from /proc/PID/fdinfo/N, and whether its
// mount forbids exec. A descriptor that is not open, or opened with
// O_PATH, is EBADF, as mmap answers.
func fdFile(pid, fd int) (vmspace.File, error) {
	if fd < 0 {
		return nil, syscall.EBADF
	}
	p := fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return nil, syscall.EBADF
	}
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return nil, syscall.EBADF
	}
	var flags uint64
	for _, l := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(l, "flags:"); ok {
			flags, _ = strconv.ParseUint(strings.TrimSpace(v), 8, 64)
		}
	}
	if flags&oPath != 0 {
		return nil, syscall.EBADF
	}
	path, _ := os.Readlink(p)
	f := &procFile{
		id:     vmspace.FileID{Dev: st.Dev, Ino: st.Ino},
		path:   path,
		size:   st.Size,
		r:      flags&oAccMode != oWrOnly,
		w:      flags&oAccMode == oWrOnly || flags&oAccMode == oRdWr,
		noMmap: st.Mode&unix.S_IFMT == unix.S_IFDIR,
	}
	var fs unix.Statfs_t
	if unix.Statfs(p, &fs) == nil {
		f.noExec = fs.Flags&unix.ST_NOEXEC != 0
		f.thp = thpFS(fs.Type)
	}
	return intern(f), nil
}

// lineFile describes the file of a maps line for a seed: identity from the
// line, size from the file (through /proc/PID/map_files when the path no
// longer names it), open mode from the area's VM_MAYWRITE (a shared area
// of a file opened read-only cannot be made writable), noexec from
// VM_MAYEXEC.
func lineFile(pid int, l Line, vf map[string]bool) vmspace.File {
	var maj, min uint32
	fmt.Sscanf(l.Dev, "%x:%x", &maj, &min)
	f := &procFile{
		id:     vmspace.FileID{Dev: unix.Mkdev(maj, min), Ino: l.Inode},
		path:   l.Path,
		size:   int64(l.Offset + l.End - l.Start),
		r:      true,
		w:      l.Perms[3] == 'p' || vf == nil || vf["mw"],
		noExec: vf != nil && !vf["me"],
	}
	var st unix.Stat_t
	var fs unix.Statfs_t
	if p := fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, l.Start, l.End); unix.Stat(p, &st) == nil {
		f.size = st.Size
		if unix.Statfs(p, &fs) == nil {
			f.thp = thpFS(fs.Type)
		}
	} else if unix.Stat(l.Path, &st) == nil && st.Ino == l.Inode {
		f.size = st.Size
		if unix.Statfs(l.Path, &fs) == nil {
			f.thp = thpFS(fs.Type)
		}
	}
	return intern(f)
}

// thpFS reports whether a file system's files are placed huge-page
// aligned: those whose file_operations have thp_get_unmapped_area as
// get_unmapped_area (ext2/3/4, xfs, btrfs). tmpfs aligns only when
// mounted with huge pages, which the mirror does not check.
func thpFS(magic int64) bool {
	switch magic {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
		return true
	}
	return false
}

// stackLimit reads the soft RLIMIT_STACK of a process (/proc/PID/limits),
// which bounds how far its stack may grow; 0 when unknown or unlimited.
func stackLimit(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max stack size"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// devString renders an st_dev as /proc/PID/maps does ("fe:00").
func devString(dev uint64) string {
	return fmt.Sprintf("%02x:%02x", unix.Major(dev), unix.Minor(dev))
}

// known holds the last procFile given to vmspace for each file identity.
// vmspace keeps one page cache per identity, made with the first File
// mapped and kept until Evict, and lists that File's path: when the same
// identity comes back with another path (an inode reused after a file was
// deleted, or a second name of the file), the old cache is evicted so
// that new mappings list the path the kernel lists. Areas still mapping
// the old cache keep it, as mappings of a deleted file do. Run evicts
// everything at its end. Only the tracing goroutine uses it; the mutex is
// for the tests that call Run one after another.
var known struct {
	sync.Mutex
	m map[vmspace.FileID]*procFile
}

// intern records f as the file of its identity, evicting a cache made
// for another path.
func intern(f *procFile) *procFile {
	known.Lock()
	defer known.Unlock()
	if known.m == nil {
		known.m = map[vmspace.FileID]*procFile{}
	}
	if old := known.m[f.id]; old != nil && old.path != f.path {
		_ = vmspace.Evict(old) // procFile writes nothing back
	}
	known.m[f.id] = f
	return f
}

// evictAll forgets every page cache the run made.
func evictAll() {
	known.Lock()
	defer known.Unlock()
	for _, f := range known.m {
		_ = vmspace.Evict(f)
	}
	known.m = nil
}
