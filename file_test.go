//go:build unix

package vmspace_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmspace/vmspace"
)

// An *os.File maps with its device and inode, its contents, its open mode;
// shared writes reach it through WriteBack.
func TestOSFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, []byte(strings.Repeat("ab", vmspace.PageSize/2)+"tail"), 0o644); err != nil {
		t.Fatal(err)
	}
	osf, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	f, err := vmspace.OSFile(osf)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if f.ID() != (vmspace.FileID{Dev: uint64(st.Dev), Ino: st.Ino}) || !f.Readable() || !f.Writable() {
		t.Fatalf("identity %+v mode %v %v", f.ID(), f.Readable(), f.Writable())
	}
	s, err := vmspace.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr, err := s.MapFile(0, 3*vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapShared, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := s.ReadAt(buf, addr+vmspace.PageSize-2); err != nil || string(buf) != "abtail" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	if _, err := s.ReadAt(buf[:1], addr+2*vmspace.PageSize); !errors.Is(err, vmspace.ErrSigbus) {
		t.Fatalf("past the end: %v, want SIGBUS", err)
	}
	if _, err := s.WriteAt([]byte("XY"), addr); err != nil {
		t.Fatal(err)
	}
	if err := vmspace.WriteBack(f); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(got), "XYab") || len(got) != vmspace.PageSize+4 {
		t.Fatalf("file after WriteBack starts %q, %d bytes", got[:4], len(got))
	}
	m := s.Maps()[0]
	if m.Path != path || m.File != f.ID() {
		t.Fatalf("listing %+v", m)
	}
	// A read-only descriptor cannot be mapped shared and writable.
	rof, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rof.Close()
	g, err := vmspace.OSFile(rof)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MapFile(0, vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapShared, g, 0); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("shared writable on O_RDONLY: %v, want EACCES", err)
	}
}

// A FileRef maps by identity and size alone: zeroes inside, SIGBUS past
// the end, and the listing names it.
func TestFileRef(t *testing.T) {
	f := vmspace.NewFileRef(vmspace.FileID{Dev: 0xfe00, Ino: 77}, "/usr/lib/libc.so.6", vmspace.PageSize+1, true, false)
	s, err := vmspace.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr, err := s.MapFile(0, 3*vmspace.PageSize, vmspace.ProtRead, vmspace.MapPrivate, f, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{1}
	if _, err := s.ReadAt(b, addr+vmspace.PageSize+5); err != nil || b[0] != 0 {
		t.Fatalf("ReadAt = %v, %v", b, err)
	}
	if _, err := s.ReadAt(b, addr+2*vmspace.PageSize); !errors.Is(err, vmspace.ErrSigbus) {
		t.Fatalf("past the end: %v", err)
	}
	if _, err := s.MapFile(0, vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapShared, f, 0); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("shared writable of a read-only ref: %v", err)
	}
	if m := s.Maps()[0]; m.Path != "/usr/lib/libc.so.6" || m.File.Ino != 77 {
		t.Fatalf("listing %+v", m)
	}
}
