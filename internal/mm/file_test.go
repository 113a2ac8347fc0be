package mm

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var testIno atomic.Uint64

// newFile returns an in-memory file of size bytes with a fresh identity,
// its bytes set to fill.
func newFile(size int64, writable bool, fill byte) *MemFile {
	f := NewMemFile(FileID{Dev: 0x803, Ino: 1000 + testIno.Add(1)}, "/tmp/f", size, true)
	f.WriteAt(bytes.Repeat([]byte{fill}, int(size)), 0)
	f.SetMode(true, writable)
	return f
}

func mapFile(t testing.TB, s *Space, page, pages uint64, prot Prot, flags MapFlags, f File, fpage uint64) {
	t.Helper()
	if _, err := s.MapFile(tbase+page*pg, pages*pg, prot, flags|MapFixed, f, fpage*pg); err != nil {
		t.Fatalf("MapFile(%d, %d, %s, %#x, %d): %v", page, pages, prot, flags, fpage, err)
	}
}

func readByte(s *Space, page, off uint64) (byte, error) {
	var b [1]byte
	_, err := s.ReadAt(b[:], tbase+page*pg+off)
	return b[0], err
}

func writeByte(s *Space, page, off uint64, v byte) error {
	_, err := s.WriteAt([]byte{v}, tbase+page*pg+off)
	return err
}

func wantByte(t *testing.T, s *Space, page, off uint64, want byte) {
	t.Helper()
	got, err := readByte(s, page, off)
	if err != nil || got != want {
		t.Fatalf("byte at page %d+%#x = %#x, %v; want %#x", page, off, got, err, want)
	}
}

// areaAtTest returns the area covering page (for anon_vma checks).
func areaAtTest(s *Space, page uint64) *Area {
	it, ok := s.tree.Find(tbase + page*pg)
	if !ok {
		return nil
	}
	return it.Val.a
}

// do_mmap's checks for files, each leaving the layout as it was.
func TestMapFileErrors(t *testing.T) {
	rwf := newFile(4*pg, true, 0)
	rof := newFile(4*pg, false, 0)
	wof := newFile(4*pg, true, 0)
	wof.SetMode(false, true)
	noexec := newFile(4*pg, true, 0)
	noexec.SetNoExec(true)
	nommap := newFile(4*pg, true, 0)
	nommap.SetNoMmap(true)
	for _, tc := range []struct {
		name  string
		off   uint64
		len   uint64
		prot  Prot
		flags MapFlags
		f     File
		want  error
	}{
		{"unaligned offset", 0x10, pg, ro, MapPrivate, rwf, syscall.EINVAL},
		{"offset+length wraps", ^uint64(pg - 1), 2 * pg, ro, MapPrivate, rwf, syscall.EOVERFLOW},
		{"past MAX_LFS_FILESIZE", 1<<63 - pg, pg, ro, MapPrivate, rwf, syscall.EOVERFLOW},
		{"shared writable, read-only file", 0, pg, rw, MapShared, rof, syscall.EACCES},
		{"shared, write-only file", 0, pg, ro, MapShared, wof, syscall.EACCES},
		{"private, write-only file", 0, pg, ro, MapPrivate, wof, syscall.EACCES},
		{"growsdown", 0, pg, ro, MapPrivate | MapGrowsDown, rwf, syscall.EINVAL},
		{"validate with noreplace", 0, pg, ro, MapSharedValidate | MapFixedNoReplace, rwf, syscall.EOPNOTSUPP},
		{"no type", 0, pg, ro, 0, rwf, syscall.EINVAL},
		{"no file", 0, pg, ro, MapPrivate, nil, syscall.EBADF},
		{"zero length", 0, 0, ro, MapPrivate, rwf, syscall.EINVAL},
		{"exec on a noexec mount", 0, pg, ProtRead | ProtExec, MapPrivate, noexec, syscall.EPERM},
		{"no mmap operation", 0, pg, ro, MapPrivate, nommap, syscall.ENODEV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpace(t, PerArea, true, nil)
			mapFile(t, s, 0, 2, rw, MapShared, rwf, 0)
			before := takeLayout(s, tbase, tbase+64*pg)
			var f File
			if tc.f != nil {
				f = tc.f
			}
			_, err := s.MapFile(tbase+4*pg, tc.len, tc.prot, tc.flags|MapFixed, f, tc.off)
			if !errors.Is(err, tc.want) {
				t.Fatalf("MapFile = %v, want %v", err, tc.want)
			}
			if d := before.diff(takeLayout(s, tbase, tbase+64*pg)); d != "" {
				t.Fatalf("the space changed: %s", d)
			}
		})
	}
}

// Private mappings read the file and copy on the first write (then the
// area has an anon_vma); shared ones write the page cache that every
// mapping, in every space, sees; MADV_DONTNEED drops a private copy so
// that the file shows again.
func TestFilePrivateAndShared(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, recycle bool) {
		f := newFile(3*pg, true, 0xaa)
		s := newSpace(t, mode, recycle, nil)
		mapFile(t, s, 0, 3, rw, MapShared, f, 0)
		mapFile(t, s, 10, 3, rw, MapPrivate, f, 0)
		wantByte(t, s, 10, 5, 0xaa) // read from the file
		if areaAtTest(s, 10).anon.Load() != nil {
			t.Fatal("a read fault gave the private area an anon_vma")
		}
		if err := writeByte(s, 0, 5, 0x55); err != nil {
			t.Fatal(err)
		}
		wantByte(t, s, 10, 5, 0x55) // the page cache, through the private mapping
		if err := writeByte(s, 11, 5, 0x66); err != nil {
			t.Fatal(err)
		}
		if areaAtTest(s, 10).anon.Load() == nil {
			t.Fatal("a private write left the area without an anon_vma")
		}
		wantByte(t, s, 1, 5, 0xaa) // the copy is private
		wantByte(t, s, 11, 5, 0x66)
		// Another space maps the same file shared and sees the writes.
		s2 := newSpace(t, mode, recycle, nil)
		mapFile(t, s2, 0, 3, rw, MapShared, f, 0)
		wantByte(t, s2, 0, 5, 0x55)
		if err := writeByte(s2, 1, 5, 0x77); err != nil {
			t.Fatal(err)
		}
		wantByte(t, s, 1, 5, 0x77)
		wantByte(t, s, 11, 5, 0x66) // still the private copy
		if err := s.Advise(tbase+11*pg, pg, AdviseDontNeed); err != nil {
			t.Fatal(err)
		}
		wantByte(t, s, 11, 5, 0x77) // the file shows again
		// mincore counts the page cache for both kinds of mapping: page
		// 10 is no longer mapped here, but the cache holds it.
		if err := s.Advise(tbase+10*pg, pg, AdviseDontNeed); err != nil {
			t.Fatal(err)
		}
		in, err := s.Mincore(tbase+10*pg, 3*pg)
		if err != nil || fmt.Sprint(in) != "[true true false]" {
			t.Fatalf("Mincore = %v, %v", in, err)
		}
		// Advice that needs anonymous memory.
		for _, adv := range []Advice{AdviseFree, AdviseWipeOnFork} {
			if err := s.Advise(tbase+10*pg, pg, adv); !isErrno(err, syscall.EINVAL) {
				t.Errorf("Advise(%d) on a file area = %v, want EINVAL", adv, err)
			}
		}
		// WriteBack puts the page cache's writes in the file.
		if err := WriteBack(f); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		f.ReadAt(b[:], pg+5)
		if b[0] != 0x77 {
			t.Fatalf("file byte after WriteBack = %#x", b[0])
		}
	})
}

// Fork: shared file pages stay shared, private file copies become
// copy-on-write in both.
func TestFileFork(t *testing.T) {
	f := newFile(2*pg, true, 0x11)
	s := newSpace(t, PerArea, true, nil)
	mapFile(t, s, 0, 1, rw, MapShared, f, 0)
	mapFile(t, s, 4, 1, rw, MapPrivate, f, 1)
	if err := writeByte(s, 4, 0, 0x22); err != nil {
		t.Fatal(err)
	}
	c, err := s.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := writeByte(c, 0, 0, 0x33); err != nil {
		t.Fatal(err)
	}
	wantByte(t, s, 0, 0, 0x33)
	if err := writeByte(c, 4, 0, 0x44); err != nil {
		t.Fatal(err)
	}
	wantByte(t, s, 4, 0, 0x22)
	wantByte(t, c, 4, 0, 0x44)
	// The child is registered with the file: a truncation reaches it.
	if err := Truncate(f, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := readByte(c, 0, 0); !errors.Is(err, ErrSigbus) {
		t.Fatalf("child read after truncation = %v, want SIGBUS", err)
	}
}

// The end of the file: the partial last page reads zeroes past it, a page
// wholly past it is SIGBUS, read or write, private or shared; Truncate
// takes pages past the new end from every mapping, private copies too,
// and zeroes the page cache's tail of the last page, not a private copy's.
func TestFileEndAndTruncate(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, recycle bool) {
		f := newFile(pg+pg/2, true, 0x5a)
		s := newSpace(t, mode, recycle, nil)
		mapFile(t, s, 0, 3, rw, MapShared, f, 0)
		mapFile(t, s, 10, 3, rw, MapPrivate, f, 0)
		wantByte(t, s, 1, pg/2-1, 0x5a)
		wantByte(t, s, 1, pg/2, 0)
		wantByte(t, s, 11, pg/2, 0)
		for _, page := range []uint64{2, 12} {
			if _, err := readByte(s, page, 0); !errors.Is(err, ErrSigbus) {
				t.Fatalf("read past the end (page %d) = %v, want SIGBUS", page, err)
			}
			if err := writeByte(s, page, 0, 1); !errors.Is(err, ErrSigbus) {
				t.Fatalf("write past the end (page %d) = %v, want SIGBUS", page, err)
			}
		}
		if err := writeByte(s, 10, 7, 0x71); err != nil { // a private copy of page 0
			t.Fatal(err)
		}
		if err := writeByte(s, 11, 7, 0x72); err != nil { // and of page 1
			t.Fatal(err)
		}
		if err := writeByte(s, 0, 0x800, 0x73); err != nil { // the page cache
			t.Fatal(err)
		}
		if err := Truncate(f, 0x400); err != nil {
			t.Fatal(err)
		}
		for _, page := range []uint64{1, 11} {
			if _, err := readByte(s, page, 7); !errors.Is(err, ErrSigbus) {
				t.Fatalf("page %d after truncation = %v, want SIGBUS", page, err)
			}
		}
		wantByte(t, s, 0, 0x800, 0)    // the page cache's tail is zeroed
		wantByte(t, s, 10, 7, 0x71)    // the private copy keeps its bytes
		wantByte(t, s, 0, 0x3ff, 0x5a) // inside the new size
		if err := Truncate(f, 3*pg); err != nil {
			t.Fatal(err)
		}
		wantByte(t, s, 11, 7, 0) // the copy went; the file is zeroes there now
		wantByte(t, s, 2, 0, 0)
		if err := Truncate(f, -1); !isErrno(err, syscall.EINVAL) {
			t.Fatalf("Truncate(-1) = %v", err)
		}
	})
}

// Merges of file areas: the same file at contiguous offsets with the same
// flags merge; another file, a gap in the offsets, shared against private,
// or anonymous memory keep areas apart.
func TestFileMerges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second func(s *Space, f, g File) error
		want   string
	}{
		{"contiguous", func(s *Space, f, g File) error {
			_, err := s.MapFile(tbase+2*pg, 2*pg, ro, MapPrivate|MapFixed, f, 2*pg)
			return err
		}, "0-4 r--p"},
		{"offset gap", func(s *Space, f, g File) error {
			_, err := s.MapFile(tbase+2*pg, 2*pg, ro, MapPrivate|MapFixed, f, 3*pg)
			return err
		}, "0-2 r--p, 2-4 r--p"},
		{"other file", func(s *Space, f, g File) error {
			_, err := s.MapFile(tbase+2*pg, 2*pg, ro, MapPrivate|MapFixed, g, 2*pg)
			return err
		}, "0-2 r--p, 2-4 r--p"},
		{"shared after private", func(s *Space, f, g File) error {
			_, err := s.MapFile(tbase+2*pg, 2*pg, ro, MapShared|MapFixed, f, 2*pg)
			return err
		}, "0-2 r--p, 2-4 r--s"},
		{"anonymous", func(s *Space, f, g File) error {
			_, err := s.Map(tbase+2*pg, 2*pg, ro, priv|MapFixed)
			return err
		}, "0-2 r--p, 2-4 r--p"},
		{"filling a hole", func(s *Space, f, g File) error {
			if _, err := s.MapFile(tbase+3*pg, pg, ro, MapPrivate|MapFixed, f, 3*pg); err != nil {
				return err
			}
			_, err := s.MapFile(tbase+2*pg, pg, ro, MapPrivate|MapFixed, f, 2*pg)
			return err
		}, "0-4 r--p"},
		// Made writable, a private file area is charged (VM_ACCOUNT) and
		// keeps the charge when made read-only again: only anonymous
		// memory never written gives it back. So it stays apart.
		{"protect and back", func(s *Space, f, g File) error {
			if _, err := s.MapFile(tbase+2*pg, 2*pg, ro, MapPrivate|MapFixed, f, 2*pg); err != nil {
				return err
			}
			if err := s.Protect(tbase+pg, pg, rw); err != nil {
				return err
			}
			return s.Protect(tbase+pg, pg, ro)
		}, "0-1 r--p, 1-2 r--p, 2-4 r--p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, g := newFile(8*pg, true, 0), newFile(8*pg, true, 0)
			s := newSpace(t, PerArea, true, nil)
			mapFile(t, s, 0, 2, ro, MapPrivate, f, 0)
			if err := tc.second(s, f, g); err != nil {
				t.Fatal(err)
			}
			if got := layout(s); got != tc.want {
				t.Fatalf("layout %q, want %q", got, tc.want)
			}
		})
	}
}

// A read-only file mapped shared has VM_MAYSHARE but neither VM_SHARED nor
// VM_MAYWRITE: listed shared, never writable (mprotect EACCES).
func TestFileReadOnlyShared(t *testing.T) {
	f := newFile(pg, false, 0x9)
	s := newSpace(t, PerArea, true, nil)
	mapFile(t, s, 0, 1, ro, MapShared, f, 0)
	m := s.Maps()[0]
	if !m.Shared || m.Flags&VMShared != 0 || m.Flags&VMMayWrite != 0 {
		t.Fatalf("flags %#x shared %v", m.Flags, m.Shared)
	}
	if err := s.Protect(tbase, pg, rw); !isErrno(err, syscall.EACCES) {
		t.Fatalf("Protect(rw) = %v, want EACCES", err)
	}
	if err := s.Protect(tbase, pg, ProtRead|ProtExec); err != nil {
		t.Fatal(err)
	}
	wantByte(t, s, 0, 0, 0x9)
	// Private and writable is fine on a read-only file.
	mapFile(t, s, 4, 1, rw, MapPrivate, f, 0)
	if err := writeByte(s, 4, 0, 1); err != nil {
		t.Fatal(err)
	}
}

// The listing gives offset, device (major:minor in hex), inode and path as
// /proc/self/maps does.
func TestFileListing(t *testing.T) {
	f := NewMemFile(FileID{Dev: 0x100803, Ino: 424242}, "/lib/x.so", 4*pg, true)
	s := newSpace(t, PerArea, true, nil)
	mapFile(t, s, 0, 2, ProtRead|ProtExec, MapPrivate, f, 2)
	m := s.Maps()[0]
	if m.Offset != 2*pg || m.File != f.ID() || m.Path != "/lib/x.so" || m.Name() != "/lib/x.so" {
		t.Fatalf("mapping %+v", m)
	}
	var b strings.Builder
	s.WriteMaps(&b)
	// st_dev 0x100803: major 8 (bits 8-19), minor 0x103 (bits 0-7 and 20-31).
	want := fmt.Sprintf("%08x-%08x r-xp 00002000 08:103 424242", tbase, tbase+2*pg)
	if !strings.HasPrefix(b.String(), want) || !strings.HasSuffix(b.String(), " /lib/x.so\n") {
		t.Fatalf("WriteMaps:\n%s\nwant prefix %q", b.String(), want)
	}
}

// Faults on file areas run under the area read lock: a read fault, a first
// write to a private area (the anon_vma found without waiting) and a write
// to a shared one complete while a writer holds the space lock for writing
// elsewhere in the space. If they fell back to the space lock they would
// wait for that writer, which waits for them.
func TestFileFaultUnderAreaLock(t *testing.T) {
	f := newFile(4*pg, true, 0x3c)
	release := make(chan struct{})
	holding := make(chan struct{})
	var armed atomic.Bool
	s := newSpace(t, PerArea, true, &Hooks{At: func(p HookPoint, a *Area) {
		if p == HookBeforeCommit && armed.Load() {
			close(holding)
			<-release
		}
	}})
	mapFile(t, s, 0, 2, rw, MapPrivate, f, 0)
	mapFile(t, s, 4, 2, rw, MapShared, f, 0)
	mustMap(t, s, 20, 1, rw)
	// Give the private area its anon_vma now: the first write needs the
	// space lock (vmf_anon_prepare), as for anonymous memory.
	if err := writeByte(s, 1, 0, 1); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	done := make(chan error)
	go func() { done <- s.Protect(tbase+20*pg, pg, ro) }()
	<-holding
	before := s.Stats()
	faults := make(chan error, 1)
	go func() {
		var err error
		for _, step := range []func() error{
			func() error { _, err := readByte(s, 0, 9); return err },
			func() error { return writeByte(s, 0, 9, 7) },
			func() error { return writeByte(s, 5, 9, 8) },
			func() error { _, err := readByte(s, 4, 9); return err },
		} {
			if err = step(); err != nil {
				break
			}
		}
		faults <- err
	}()
	select {
	case err := <-faults:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("file faults waited for the space lock")
	}
	after := s.Stats()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after.Fallback != before.Fallback || after.Success-before.Success != 4 {
		t.Fatalf("stats before %+v after %+v: want 4 successes, no fallback", before, after)
	}
}

// A fault that took a page from the page cache before a truncation made
// it past the end installs it before the truncation's zap, never after:
// the zap write-locks the area, which waits for the fault's read lock. So
// the page is gone when Truncate returns, and the address is a SIGBUS.
// (Zapping without the area lock leaves the stale page mapped past the
// end; see docs/mutations.md.)
func TestTruncateWaitsForFault(t *testing.T) {
	f := newFile(2*pg, true, 0x61)
	paused := make(chan struct{})
	resume := make(chan struct{})
	var armed atomic.Bool
	s := newSpace(t, PerArea, true, &Hooks{At: func(p HookPoint, a *Area) {
		if p == HookFilePage && armed.CompareAndSwap(true, false) {
			close(paused)
			<-resume
		}
	}})
	mapFile(t, s, 0, 2, ro, MapPrivate, f, 0)
	armed.Store(true)
	faulted := make(chan error)
	go func() { _, err := readByte(s, 1, 0); faulted <- err }()
	<-paused // the fault holds page 1, inside the file
	truncated := make(chan error, 1)
	go func() { truncated <- Truncate(f, pg) }()
	// Truncate cannot finish while the fault holds the area: its zap
	// waits for the read lock. Give it time to show that it does not
	// (a correct Truncate never returns here, so this cannot fail
	// falsely; a Truncate that zaps without the area lock returns at
	// once), then let the fault finish.
	select {
	case err := <-truncated:
		close(resume)
		t.Fatalf("Truncate returned (%v) while a fault on the area was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(resume)
	if err := <-faulted; err != nil {
		t.Fatal(err)
	}
	if err := <-truncated; err != nil {
		t.Fatal(err)
	}
	if _, err := readByte(s, 1, 0); !errors.Is(err, ErrSigbus) {
		t.Fatalf("after truncation the page past the end reads %v, want SIGBUS", err)
	}
}

// On a noexec mount a readable mapping is fine, but PROT_EXEC can never
// be added (VM_MAYEXEC is gone).
func TestFileNoExec(t *testing.T) {
	f := newFile(pg, true, 0)
	f.SetNoExec(true)
	s := newSpace(t, PerArea, true, nil)
	mapFile(t, s, 0, 1, ro, MapPrivate, f, 0)
	if err := s.Protect(tbase, pg, ProtRead|ProtExec); !isErrno(err, syscall.EACCES) {
		t.Fatalf("Protect(r-x) = %v, want EACCES", err)
	}
}

// The page cache outlives the mappings, as the kernel's does: a shared
// write shows in the next mapping of the file; Evict writes it back and
// forgets the cache.
func TestFileCacheOutlivesMappings(t *testing.T) {
	f := newFile(pg, true, 0)
	s := newSpace(t, PerArea, true, nil)
	mapFile(t, s, 0, 1, rw, MapShared, f, 0)
	if err := writeByte(s, 0, 3, 0x99); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmap(tbase, pg); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	mapFile(t, s, 4, 1, ro, MapPrivate, f, 0)
	wantByte(t, s, 4, 3, 0x99)
	if err := s.Unmap(tbase+4*pg, pg); err != nil {
		t.Fatal(err)
	}
	if err := Evict(f); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	f.ReadAt(b[:], 3)
	if b[0] != 0x99 || lookupFileObject(f.ID()) != nil {
		t.Fatalf("after Evict: file byte %#x, cache %v", b[0], lookupFileObject(f.ID()))
	}
}
