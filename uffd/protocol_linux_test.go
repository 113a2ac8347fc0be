package uffd_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// TestEventsBeforeFaults: a fault read after an event is served only once
// the event is mirrored. The applier is held back before mirroring, so a
// handler that served the fault at once would install the wrong page: the
// image's page 7 where the client's mremap moved page 6 (an UNMAP/REMAP
// always goes through the applier), or the image where the client dropped
// a page (a REMOVE is mirrored inline by the reader when it can be).
func TestEventsBeforeFaults(t *testing.T) {
	defer goleak.VerifyNone(t)
	uffd.SetTestHooks(func() { time.Sleep(50 * time.Millisecond) }, nil)
	defer uffd.SetTestHooks(nil, nil)
	const pages = 8
	c := startClient(t, pages)
	img := image(pages)
	_, h, stop := serveRemote(t, c, img)
	defer stop()
	if got := c.do("dontneed 3 1"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("touch 3 1"); got != hashOf(make([]byte, vmspace.PageSize)) {
		t.Fatalf("page dropped before its first touch: %q, want zeros (the fault was served before the REMOVE was mirrored)", got)
	}
	if got := c.do("mremap 6 1 7"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("touch 7 1"); got != hashOf(img[6*vmspace.PageSize:7*vmspace.PageSize]) {
		t.Fatalf("page 7 after the client moved page 6 (never touched) there: %q, want the image's page 6 (the fault was served before the REMAP was mirrored?)", got)
	}
	if st := h.Stats(); st.Removes != 1 || st.Remaps != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestEAGAINRetried: fills that fail with EAGAIN (injected) are retried
// after the events read so far are applied, and the thread gets its page.
func TestEAGAINRetried(t *testing.T) {
	defer goleak.VerifyNone(t)
	var n atomic.Int32
	uffd.SetTestHooks(nil, func() error {
		if n.Add(1)%3 != 0 {
			return unix.EAGAIN
		}
		return nil
	})
	defer uffd.SetTestHooks(nil, nil)
	const pages = 8
	c := startClient(t, pages)
	img := image(pages)
	_, h, stop := serveRemote(t, c, img)
	defer stop()
	var want []string
	for i := range 4 {
		want = append(want, hashOf(img[i*vmspace.PageSize:(i+1)*vmspace.PageSize]))
	}
	if got := c.do("touch 0 4"); got != string(bytes.Join(func() [][]byte {
		var b [][]byte
		for _, w := range want {
			b = append(b, []byte(w))
		}
		return b
	}(), []byte(" "))) {
		t.Fatalf("touch 0 4 = %q, want the image's", got)
	}
	if st := h.Stats(); st.EAGAIN < 8 {
		t.Fatalf("EAGAIN retries %d, want at least 8 (2 per page)", st.EAGAIN)
	}
}

// holdFirstMirror holds the handler's first mirror of a client event until
// the returned channel is closed (the hook is removed at the test's end).
func holdFirstMirror(t *testing.T) chan struct{} {
	gate := make(chan struct{})
	var once atomic.Bool
	uffd.SetTestHooks(func() {
		if once.CompareAndSwap(false, true) {
			<-gate
		}
	}, nil)
	t.Cleanup(func() { uffd.SetTestHooks(nil, nil) })
	return gate
}

// TestDropAfterRemapBeforeMirror: the client moves a page it never touched
// (mremap), then drops it at its new place, before the handler has
// mirrored the move. The move's mirror must not install the image page at
// the new place (the page would then be there for good: nothing in this
// process can drop a page of another process), so the later drop's mirror
// has the last word and the page reads as zeros. Installing the image page
// at the mirror of the move (the handler's behaviour before) fails it with
// the image's page 6.
func TestDropAfterRemapBeforeMirror(t *testing.T) {
	defer goleak.VerifyNone(t)
	gate := holdFirstMirror(t)
	const pages = 8
	c := startClient(t, pages)
	img := image(pages)
	_, h, stop := serveRemote(t, c, img)
	defer stop()
	if got := c.do("mremap 6 1 7"); got != "ok" {
		t.Fatal(got)
	}
	// The REMAP was read (mremap waits for that) and is held at the gate;
	// the drop's REMOVE is read behind it and queued.
	if got := c.do("dontneed 7 1"); got != "ok" {
		t.Fatal(got)
	}
	close(gate)
	h.Sync()
	if got := c.do("touch 7 1"); got != hashOf(make([]byte, vmspace.PageSize)) {
		if got == hashOf(img[6*vmspace.PageSize:7*vmspace.PageSize]) {
			t.Fatalf("page 7 holds the image's page 6 after the client dropped it: the move's mirror installed it")
		}
		t.Fatalf("page 7 after move and drop: %q, want zeros", got)
	}
	if st := h.Stats(); st.Removes != 1 || st.Remaps != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSessionOrderedAfterEvents: a write session of the space starts only
// after the client's events read so far are mirrored (Handler.Order). The
// client munmaps two pages and the UNMAP is held before its mirror; the
// server then maps the range again (a hot-plug). The Map must wait for
// the mirror: run first, it would be undone by it, leaving a hole where
// the server has just mapped an area (what Sync was once called for by
// hand, and what the real-fault torture's server no longer does).
func TestSessionOrderedAfterEvents(t *testing.T) {
	defer goleak.VerifyNone(t)
	gate := holdFirstMirror(t)
	const pages = 8
	c := startClient(t, pages)
	sp, h, stop := serveRemote(t, c, image(pages))
	defer stop()
	if got := c.do("munmap 2 2"); got != "ok" {
		t.Fatal(got)
	}
	// The UNMAP was read (munmap returns only then) and is held at the
	// gate.
	base := c.ms[0].BaseHostVirtAddr
	done := make(chan error, 1)
	go func() {
		_, err := sp.Map(base+2*vmspace.PageSize, 2*vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite,
			vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed)
		done <- err
	}()
	select {
	case err := <-done:
		close(gate)
		t.Fatalf("the server's Map returned (%v) while the client's munmap of the range was read and not mirrored", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.Sync()
	var got []string
	for _, m := range sp.Maps() {
		got = append(got, fmt.Sprintf("%d-%d", (m.Start-base)/vmspace.PageSize, (m.End-base)/vmspace.PageSize))
	}
	if s := strings.Join(got, " "); s != "0-8" {
		t.Fatalf("areas after the client's munmap and the server's Map of pages 2-4: %s, want 0-8 (the Map undone by the mirror of the munmap?)", s)
	}
}
