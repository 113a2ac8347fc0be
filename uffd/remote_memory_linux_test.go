package uffd_test

import (
	"bytes"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// TestRemoteCooperative: a cooperative client in another process (a
// memory channel, uffd.Remote). The space's own Advise, Protect and Unmap
// reach pages the client already has, inside the write session: dropped
// pages read zeros, a store to a page made read-only gets SIGSEGV from the
// client's kernel, an unmapped page faults. The REMOVE events the client's
// MADV_DONTNEED raises on the server's behalf are seen as the handler's
// own, not mirrored back into the space (no double apply: a write
// through the space after the drop survives).
func TestRemoteCooperative(t *testing.T) {
	defer goleak.VerifyNone(t)
	const pages = 16
	c := startClientWith(t, pages, true)
	if c.mem < 0 {
		t.Fatal("cooperative client sent no memory channel")
	}
	rm, err := uffd.NewRemote(c.mem, 30*time.Second, func(err error) { t.Errorf("memory channel: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	img := image(pages)
	s, h, stop := serveRemoteWith(t, c, img, rm)
	defer stop()
	base := c.ms[0].BaseHostVirtAddr
	pg := func(i int) uint64 { return base + uint64(i)*vmspace.PageSize }
	imgPage := func(i int) []byte { return img[i*vmspace.PageSize : (i+1)*vmspace.PageSize] }
	zero := make([]byte, vmspace.PageSize)

	c.do("touch 0 8")
	// Balloon from the server side: the client's installed pages go.
	if err := s.Advise(pg(0), 2*vmspace.PageSize, vmspace.AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 0 1"); got != hashOf(zero) {
		t.Fatalf("page dropped through the space: %s, want zeros", got)
	}
	// The echo: not mirrored back. A write through the space into the
	// other dropped page (not yet faulted again) is what the client sees.
	h.Sync()
	if _, err := s.WriteAt([]byte("after the drop"), pg(1)+8); err != nil {
		t.Fatal(err)
	}
	h.Sync()
	want := make([]byte, vmspace.PageSize)
	copy(want[8:], "after the drop")
	if got := c.do("touch 1 1"); got != hashOf(want) {
		t.Fatalf("page written through the space after the drop: %s, want %s", got, hashOf(want))
	}
	// Read-only through the space: the client's kernel denies the store
	// on the present page (SIGSEGV), and the page keeps its contents.
	if err := s.Protect(pg(3), vmspace.PageSize, vmspace.ProtRead); err != nil {
		t.Fatal(err)
	}
	if got := c.do("store 3 9"); got != "fault" {
		t.Fatalf("store to a page made read-only through the space: %q, want a fault", got)
	}
	if got := c.do("touch 3 1"); got != hashOf(imgPage(3)) {
		t.Fatalf("page 3 after the denied store: %s", got)
	}
	if err := s.Protect(pg(3), vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite); err != nil {
		t.Fatal(err)
	}
	if got := c.do("store 3 9"); got != "ok" {
		t.Fatalf("store after write came back: %q", got)
	}
	// Unmapped through the space: the present page is unreachable; mapped
	// again, it starts from zeros.
	if err := s.Unmap(pg(5), vmspace.PageSize); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 5 1"); got != "fault" {
		t.Fatalf("load from a page unmapped through the space: %q, want a fault", got)
	}
	if _, err := s.Map(pg(5), vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 5 1"); got != hashOf(zero) {
		t.Fatalf("page mapped again: %s, want zeros", got)
	}
	if got := c.do("touch 6 1"); got != hashOf(imgPage(6)) {
		t.Fatalf("page 6 (untouched by the changes): %s", got)
	}
	// Moved through the space: the installed pages move with their area
	// (the client does the UFFDIO_MOVE: the kernel refuses it across
	// processes), and one never touched brings its image page along.
	if got := c.do("store 9 77"); got != "ok" {
		t.Fatal(got)
	}
	if _, err := s.Remap(pg(8), 3*vmspace.PageSize, 3*vmspace.PageSize, vmspace.RemapMayMove|vmspace.RemapFixed, pg(12)); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 12 3"); got != hashOf(imgPage(8))+" "+hashOf(bytes.Repeat([]byte{77}, vmspace.PageSize))+" "+hashOf(imgPage(10)) {
		t.Fatalf("pages moved through the space: %s", got)
	}
	if got := c.do("touch 9 1"); got != "fault" {
		t.Fatalf("old place of a moved page: %q, want a fault", got)
	}
	got := make([]byte, vmspace.PageSize)
	if _, err := h.ReadAt(got, pg(3)); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{9}, vmspace.PageSize)) {
		t.Fatalf("Handler.ReadAt page 3: %v", err)
	}
	h.Sync()
	st := h.Stats()
	t.Logf("stats: %+v", st)
	if st.SelfEvents < 2 || st.Removes != 0 {
		t.Fatalf("stats %+v: want the handler's own REMOVE events (2 zaps) seen as its own and none mirrored", st)
	}
}

// TestRemoteMoveWithoutMemory: a window in a process that does not
// cooperate. UFFDIO_MOVE refuses to move its pages from here (cross-mm),
// but a page never touched still brings its image page to its new place.
func TestRemoteMoveWithoutMemory(t *testing.T) {
	defer goleak.VerifyNone(t)
	const pages = 8
	c := startClient(t, pages)
	img := image(pages)
	s, _, stop := serveRemote(t, c, img)
	defer stop()
	base := c.ms[0].BaseHostVirtAddr
	pg := func(i int) uint64 { return base + uint64(i)*vmspace.PageSize }
	c.do("touch 0 1")
	if _, err := s.Remap(pg(0), 2*vmspace.PageSize, 2*vmspace.PageSize, vmspace.RemapMayMove|vmspace.RemapFixed, pg(4)); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 5 1"); got != hashOf(img[1*vmspace.PageSize:2*vmspace.PageSize]) {
		t.Fatalf("untouched page moved through the space: %s, want the image's page 1", got)
	}
}
