package uffd_test

import (
	"bytes"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// TestRemoteSpaceAccess: Space.ReadAt and Space.WriteAt on a window agree
// with the client's own loads and stores at all times, before and after a
// page's install: the space reads the client's stores, the client loads
// the space's writes, an untouched page reads as the image, a dropped one
// as zeros, and the space's protection still applies.
func TestRemoteSpaceAccess(t *testing.T) {
	defer goleak.VerifyNone(t)
	const pages = 8
	c := startClient(t, pages)
	img := image(pages)
	s, _, stop := serveRemote(t, c, img)
	defer stop()
	base := c.ms[0].BaseHostVirtAddr
	pg := func(i int) uint64 { return base + uint64(i)*vmspace.PageSize }
	imgPage := func(i int) []byte { return img[i*vmspace.PageSize : (i+1)*vmspace.PageSize] }
	got := make([]byte, vmspace.PageSize)

	// Untouched: the space reads the image, as the client would.
	if _, err := s.ReadAt(got, pg(1)); err != nil || !bytes.Equal(got, imgPage(1)) {
		t.Fatalf("Space.ReadAt of an untouched page: %v, not the image's", err)
	}
	// The client's store, read through the space.
	if r := c.do("store 2 33"); r != "ok" {
		t.Fatal(r)
	}
	if _, err := s.ReadAt(got, pg(2)); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{33}, vmspace.PageSize)) {
		t.Fatalf("Space.ReadAt of a page the client stored to: %v, %x...", err, got[:4])
	}
	// A write through the space after install, loaded by the client;
	// across a page boundary too.
	if _, err := s.WriteAt([]byte("across"), pg(3)-3); err != nil {
		t.Fatal(err)
	}
	want2 := bytes.Repeat([]byte{33}, vmspace.PageSize)
	copy(want2[vmspace.PageSize-3:], "acr")
	want3 := append([]byte(nil), imgPage(3)...)
	copy(want3, "oss")
	if r := c.do("touch 2 2"); r != hashOf(want2)+" "+hashOf(want3) {
		t.Fatalf("client loads after Space.WriteAt: %s, want %s %s", r, hashOf(want2), hashOf(want3))
	}
	// Dropped by the client: zeros through the space as well.
	if r := c.do("dontneed 2 1"); r != "ok" {
		t.Fatal(r)
	}
	if _, err := s.ReadAt(got, pg(2)); err != nil || !bytes.Equal(got, make([]byte, vmspace.PageSize)) {
		t.Fatalf("Space.ReadAt of a page the client dropped: %v, %x...", err, got[:4])
	}
	// The space's protection: a write to a read-only area is refused,
	// and the page keeps its bytes.
	if err := s.Protect(pg(3), vmspace.PageSize, vmspace.ProtRead); err != nil {
		t.Fatal(err)
	}
	var fe *vmspace.FaultError
	if _, err := s.WriteAt([]byte("no"), pg(3)); !errors.As(err, &fe) {
		t.Fatalf("Space.WriteAt to a read-only area: %v, want a fault", err)
	}
	if r := c.do("touch 3 1"); r != hashOf(want3) {
		t.Fatalf("read-only page after a refused write: %s", r)
	}
}

// TestRemoteSpaceAccessUnknownProcess: a handler not told whose memory
// the window is (no Pid, no Local Memory) does not take Space.ReadAt and
// WriteAt to "this process" at the window's addresses: they keep to the
// space's pre-install store, which the client's first touch installs.
func TestRemoteSpaceAccessUnknownProcess(t *testing.T) {
	defer goleak.VerifyNone(t)
	const pages = 4
	c := startClient(t, pages)
	s, err := vmspace.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := c.ms[0]
	if _, err := s.Map(m.BaseHostVirtAddr, m.Size, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
		t.Fatal(err)
	}
	h, err := uffd.New(s, c.fd, uffd.Config{Regions: []uffd.Region{{Host: m.BaseHostVirtAddr, Size: m.Size, Base: m.BaseHostVirtAddr}}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); h.Serve() }()
	defer func() { h.Close(); <-done }()
	pg1 := m.BaseHostVirtAddr + vmspace.PageSize
	if _, err := s.WriteAt([]byte("seed"), pg1+8); err != nil {
		t.Fatalf("Space.WriteAt: %v", err)
	}
	want := make([]byte, vmspace.PageSize)
	copy(want[8:], "seed")
	got := make([]byte, vmspace.PageSize)
	if _, err := s.ReadAt(got, pg1); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Space.ReadAt: %v, %x...", err, got[8:12])
	}
	if r := c.do("touch 1 1"); r != hashOf(want) {
		t.Fatalf("client's first touch of the seeded page: %s, want %s", r, hashOf(want))
	}
}
