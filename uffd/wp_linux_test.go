package uffd_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// waitStat polls the handler's counters until cond holds; it fails (not a
// timing assert: the bound only keeps a broken handler from hanging the
// test) if that takes over 30 seconds.
func waitStat(t *testing.T, h *uffd.Handler, what string, cond func(uffd.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond(h.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s (stats %+v)", what, h.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// skipWithoutWP skips a test on a kernel without userfaultfd's
// write-protect mode.
func skipWithoutWP(t *testing.T) {
	t.Helper()
	if fd, offered, err := uffd.Open(0, 0); err == nil {
		unix.Close(fd)
		if offered&uffd.FeaturePagefaultFlagWP == 0 {
			t.Skipf("kernel offers no write-protect mode (features %#x)", offered)
		}
	}
}

// storeWaits starts a store of byte b by the client to page pg in the
// background and requires it to wait: the handler sees its write-protect
// fault and leaves it waiting.
func storeWaits(t *testing.T, c *client, h *uffd.Handler, pg int, b byte, what string) {
	t.Helper()
	blocked := h.Stats().WPBlocked
	if got := c.do("astore %d %d", pg, b); got != "started" {
		t.Fatal(got)
	}
	waitStat(t, h, fmt.Sprintf("write-protect fault on page %d", pg), func(st uffd.Stats) bool { return st.WPBlocked > blocked })
	if got := c.do("poll"); got != "pending" {
		t.Fatalf("store to %s: %q, want it waiting", what, got)
	}
}

// TestRemoteWriteProtect: a window in another process, no Memory. A
// Space.Protect that removes write permission write-protects the pages
// already installed there (and pages installed later in the read-only
// area come in write-protected): a real store by the client waits, its
// page keeps its contents, and the store completes once Protect gives
// write back, or once the handler closes.
func TestRemoteWriteProtect(t *testing.T) {
	defer goleak.VerifyNone(t)
	skipWithoutWP(t)
	const pages = 8
	c := startClient(t, pages)
	img := image(pages)
	s, h, stop := serveRemote(t, c, img)
	defer stop()
	base := c.ms[0].BaseHostVirtAddr
	pg := func(i int) uint64 { return base + uint64(i)*vmspace.PageSize }
	fill := func(b byte) []byte { return bytes.Repeat([]byte{b}, vmspace.PageSize) }

	if got := c.do("store 1 42"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("touch 2 1"); got != hashOf(img[2*vmspace.PageSize:3*vmspace.PageSize]) {
		t.Fatal(got)
	}
	// Installed pages, made read-only through the space: reads go on.
	if err := s.Protect(pg(1), 2*vmspace.PageSize, vmspace.ProtRead); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 1 1"); got != hashOf(fill(42)) {
		t.Fatalf("read of a write-protected page: %s", got)
	}
	// A store waits: the handler saw its fault and left it waiting.
	if got := c.do("astore 1 99"); got != "started" {
		t.Fatal(got)
	}
	waitStat(t, h, "write-protect fault on page 1", func(st uffd.Stats) bool { return st.WPBlocked >= 1 })
	c.do("touch 4 1") // a fault served after the blocked one: the handler is not stuck
	if got := c.do("poll"); got != "pending" {
		t.Fatalf("store to a read-only page: %q, want it still waiting", got)
	}
	got := make([]byte, vmspace.PageSize)
	if _, err := h.ReadAt(got, pg(1)); err != nil || !bytes.Equal(got, fill(42)) {
		t.Fatalf("page 1 while its store waits: %v, %x..., want 42s", err, got[:4])
	}
	// Write given back: the store completes.
	if err := s.Protect(pg(1), 2*vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite); err != nil {
		t.Fatal(err)
	}
	if got := c.do("await"); got != "ok" {
		t.Fatalf("store after write came back: %q", got)
	}
	if got := c.do("touch 1 1"); got != hashOf(fill(99)) {
		t.Fatalf("page 1 after its store: %s, want 99s", got)
	}
	// Unmapped through the space: the client keeps the page (nothing can
	// drop it from here), but its stores wait until an area is back.
	if got := c.do("store 6 5"); got != "ok" {
		t.Fatal(got)
	}
	if err := s.Unmap(pg(6), vmspace.PageSize); err != nil {
		t.Fatal(err)
	}
	storeWaits(t, c, h, 6, 8, "a page unmapped through the space")
	if _, err := s.Map(pg(6), vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
		t.Fatal(err)
	}
	if got := c.do("await"); got != "ok" {
		t.Fatalf("store after the page was mapped again: %q", got)
	}
	// A page first touched in a read-only area comes in write-protected.
	if err := s.Protect(pg(3), vmspace.PageSize, vmspace.ProtRead); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 3 1"); got != hashOf(img[3*vmspace.PageSize:4*vmspace.PageSize]) {
		t.Fatal(got)
	}
	storeWaits(t, c, h, 3, 7, "a page installed read-only")
	// Close lifts the protection: the store completes.
	h.Close()
	if got := c.do("await"); got != "ok" {
		t.Fatalf("store after Close: %q", got)
	}
	if got := c.do("touch 3 1"); got != hashOf(fill(7)) {
		t.Fatalf("page 3 after its store: %s, want 7s", got)
	}
	t.Logf("stats: %+v", h.Stats())
}

// TestWriteProtectOnlyWhatClientHolds: a layout change of the space makes
// a system call in the client's memory only where the client may hold a
// page (pagebits_linux.go): an Unmap of pages never touched
// write-protects nothing, one of a page the client stored to and then
// moved (mremap) write-protects it at its new place, so the client's
// next store there waits as it must.
func TestWriteProtectOnlyWhatClientHolds(t *testing.T) {
	defer goleak.VerifyNone(t)
	skipWithoutWP(t)
	const pages = 8
	c := startClient(t, pages)
	s, h, stop := serveRemote(t, c, image(pages))
	defer stop()
	base := c.ms[0].BaseHostVirtAddr
	pg := func(i int) uint64 { return base + uint64(i)*vmspace.PageSize }
	if got := c.do("store 1 42"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("mremap 1 1 5"); got != "ok" {
		t.Fatal(got)
	}
	before := h.Stats().WPRanges
	if err := s.Unmap(pg(2), 2*vmspace.PageSize); err != nil {
		t.Fatal(err)
	}
	if got := h.Stats().WPRanges; got != before {
		t.Fatalf("an Unmap of pages the client never touched write-protected %d ranges of its memory", got-before)
	}
	if err := s.Unmap(pg(5), vmspace.PageSize); err != nil {
		t.Fatal(err)
	}
	if got := h.Stats().WPRanges; got != before+1 {
		t.Fatalf("an Unmap of the page the client moved to 5 write-protected %d ranges, want 1", got-before)
	}
	storeWaits(t, c, h, 5, 8, "the moved page after the space unmapped it")
	if _, err := s.Map(pg(5), vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
		t.Fatal(err)
	}
	if got := c.do("await"); got != "ok" {
		t.Fatalf("store after the page was mapped again: %q", got)
	}
}
