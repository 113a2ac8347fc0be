package uffd_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/internal/uffdclient"
	"github.com/vmspace/vmspace/uffd"
)

func TestMain(m *testing.M) {
	if v := os.Getenv(uffdclient.EnvScript); v != "" {
		pages, _ := strconv.Atoi(v)
		if err := uffdclient.ScriptMain(pages, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// client is a scripted client process (uffdclient.ScriptMain).
type client struct {
	t    testing.TB
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	ms   []uffd.Mapping
	fd   int
	mem  int // the memory channel of a cooperative client, or -1
	conn *net.UnixConn
}

// startClient starts a client process with a region of pages pages and
// receives its handshake; it skips if userfaultfd is not permitted.
func startClient(t testing.TB, pages int) *client {
	t.Helper()
	return startClientWith(t, pages, false)
}

// startClientWith is startClient; coop makes the client cooperative (a
// memory channel in its handshake, c.mem).
func startClientWith(t testing.TB, pages int, coop bool) *client {
	t.Helper()
	if fd, _, err := uffd.Open(0, 0); err != nil {
		if fd, _, err = uffd.Open(uffd.UserModeOnly, 0); err != nil {
			t.Skipf("userfaultfd not permitted here (%v): needs vm.unprivileged_userfaultfd=1, CAP_SYS_PTRACE, or kernel support", err)
		}
		unix.Close(fd)
	} else {
		unix.Close(fd)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "client-socket")
	ours := os.NewFile(uintptr(fds[0]), "server-socket")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: fc.(*net.UnixConn)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), uffdclient.EnvScript+"="+strconv.Itoa(pages))
	if coop {
		c.cmd.Env = append(c.cmd.Env, uffdclient.EnvCoop+"=1")
	}
	c.cmd.ExtraFiles = []*os.File{theirs}
	c.cmd.Stderr = os.Stderr
	c.in, _ = c.cmd.StdinPipe()
	stdout, _ := c.cmd.StdoutPipe()
	c.out = bufio.NewReader(stdout)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	c.ms, c.fd, c.mem, err = uffd.ReadHandshakeMemory(c.conn)
	if err != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		t.Fatalf("handshake: %v", err)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *client) stop() {
	if c.cmd.ProcessState == nil {
		fmt.Fprintln(c.in, "exit")
		c.in.Close()
		c.cmd.Wait()
	}
	c.conn.Close()
}

// do sends one command and returns the reply line.
func (c *client) do(format string, args ...any) string {
	c.t.Helper()
	fmt.Fprintf(c.in, format+"\n", args...)
	type reply struct {
		line string
		err  error
	}
	ch := make(chan reply, 1)
	go func() {
		line, err := c.out.ReadString('\n')
		ch <- reply{line, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			c.t.Fatalf("client: %q: %v", fmt.Sprintf(format, args...), r.err)
		}
		return strings.TrimSpace(r.line)
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill() // unblocks the reader goroutine
		c.t.Fatalf("client: %q: no answer in 30s (a fault never served?)", fmt.Sprintf(format, args...))
		return ""
	}
}

func hashOf(p []byte) string { return strconv.FormatUint(uffdclient.Hash(p), 16) }

// image returns a test image of pages pages, every page different.
func image(pages int) []byte {
	img := make([]byte, pages*vmspace.PageSize)
	for i := range img {
		img[i] = byte(i/vmspace.PageSize*7 + i%251 + 1)
	}
	return img
}

// serveRemote attaches a handler over the client's region with the space
// address equal to the host address, and serves it.
func serveRemote(t testing.TB, c *client, img []byte) (*vmspace.Space, *uffd.Handler, func()) {
	t.Helper()
	return serveRemoteWith(t, c, img, nil)
}

// serveRemoteWith is serveRemote with a Memory.
func serveRemoteWith(t testing.TB, c *client, img []byte, mem uffd.Memory) (*vmspace.Space, *uffd.Handler, func()) {
	t.Helper()
	s, err := vmspace.New()
	if err != nil {
		t.Fatal(err)
	}
	m := c.ms[0]
	if _, err := s.Map(m.BaseHostVirtAddr, m.Size, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
		t.Fatal(err)
	}
	h, err := uffd.New(s, c.fd, uffd.Config{
		Regions: []uffd.Region{{Host: m.BaseHostVirtAddr, Size: m.Size, Base: m.BaseHostVirtAddr, Source: bytes.NewReader(img)}},
		Logf:    t.Logf,
		Pid:     c.cmd.Process.Pid,
		Memory:  mem,
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var stopping atomic.Bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A Close before Serve even started (a very short test or
		// benchmark run) makes Serve refuse to run: not an error.
		if err := h.Serve(); err != nil && !stopping.Load() {
			t.Errorf("Serve: %v", err)
		}
	}()
	return s, h, func() {
		stopping.Store(true)
		h.Close()
		wg.Wait()
		s.Close()
	}
}

// TestRemoteFaults: a second process touches its registered memory with
// real loads and stores; vmspace serves every fault: contents from the
// image, from bytes written through the space, zeros after the client's
// MADV_DONTNEED; denied accesses get SIGBUS; the client's munmap and
// mremap reach the space.
func TestRemoteFaults(t *testing.T) {
	defer goleak.VerifyNone(t)
	const pages = 64
	c := startClient(t, pages)
	img := image(pages)
	s, h, stop := serveRemote(t, c, img)
	defer stop()
	base := c.ms[0].BaseHostVirtAddr
	pg := func(i int) uint64 { return base + uint64(i)*vmspace.PageSize }
	imgPage := func(i int) []byte { return img[i*vmspace.PageSize : (i+1)*vmspace.PageSize] }
	zero := make([]byte, vmspace.PageSize)

	// Lazy restore: the pages come from the image.
	want := []string{hashOf(imgPage(0)), hashOf(imgPage(1)), hashOf(imgPage(2)), hashOf(imgPage(3))}
	if got := c.do("touch 0 4"); got != strings.Join(want, " ") {
		t.Fatalf("touch 0 4 = %q, want the image's %q", got, want)
	}
	// Bytes written through the space land in what the client sees: the
	// space's WriteAt goes to the window's memory (the handler is the
	// space's Accessor), faulting the page in from the image on the way,
	// so the rest of the page is the image's.
	if _, err := s.WriteAt([]byte("hello"), pg(10)+100); err != nil {
		t.Fatal(err)
	}
	seeded := bytes.Clone(imgPage(10))
	copy(seeded[100:], "hello")
	if got := c.do("touch 10 1"); got != hashOf(seeded) {
		t.Fatalf("page written through the space: got %s, want %s", got, hashOf(seeded))
	}
	// The client's own stores stay (host memory is the page store).
	if got := c.do("store 5 119"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("touch 5 1"); got != hashOf(bytes.Repeat([]byte{119}, vmspace.PageSize)) {
		t.Fatalf("page 5 after a store: %s", got)
	}
	// One truth: the handler reads and writes the window's memory itself;
	// a page not yet touched is faulted in through the handler on the way.
	got := make([]byte, vmspace.PageSize)
	if _, err := h.ReadAt(got, pg(5)); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{119}, vmspace.PageSize)) {
		t.Fatalf("Handler.ReadAt of the client's page 5: %v, %x...", err, got[:8])
	}
	if _, err := h.ReadAt(got, pg(7)); err != nil || !bytes.Equal(got, imgPage(7)) {
		t.Fatalf("Handler.ReadAt of untouched page 7: %v, not the image's", err)
	}
	if _, err := h.WriteAt([]byte("via the handler"), pg(8)+10); err != nil {
		t.Fatal(err)
	}
	want8 := append([]byte(nil), imgPage(8)...)
	copy(want8[10:], "via the handler")
	if got := c.do("touch 8 1"); got != hashOf(want8) {
		t.Fatalf("page 8 written through the handler: the client sees %s, want %s", got, hashOf(want8))
	}
	// The space's own ReadAt and WriteAt agree with the client after the
	// install too: they reach the window's memory (Accessor).
	if _, err := s.ReadAt(got, pg(5)); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{119}, vmspace.PageSize)) {
		t.Fatalf("Space.ReadAt of the client's stored page 5: %v, %x...", err, got[:8])
	}
	if _, err := s.ReadAt(got, pg(9)); err != nil || !bytes.Equal(got, imgPage(9)) {
		t.Fatalf("Space.ReadAt of untouched page 9: %v, not the image's", err)
	}
	if _, err := s.WriteAt([]byte("via the space"), pg(5)+20); err != nil {
		t.Fatal(err)
	}
	want5 := bytes.Repeat([]byte{119}, vmspace.PageSize)
	copy(want5[20:], "via the space")
	if got := c.do("touch 5 1"); got != hashOf(want5) {
		t.Fatalf("installed page 5 written through the space: the client sees %s, want %s", got, hashOf(want5))
	}
	// A write the space's protection denies is refused, as a fault would be.
	if err := s.Protect(pg(6), vmspace.PageSize, vmspace.ProtRead); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt([]byte("x"), pg(6)); err == nil {
		t.Fatal("Space.WriteAt to a read-only window page succeeded")
	}
	if err := s.Protect(pg(6), vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite); err != nil {
		t.Fatal(err)
	}
	// MADV_DONTNEED by the client: the pages read back as zeros, and the
	// space dropped its copy too.
	if got := c.do("dontneed 0 2"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("touch 0 2"); got != hashOf(zero)+" "+hashOf(zero) {
		t.Fatalf("dropped pages: %q, want zeros", got)
	}
	// ... also a page never touched: the image no longer speaks for it.
	if got := c.do("dontneed 12 1"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("touch 12 1"); got != hashOf(zero) {
		t.Fatalf("page dropped before its first touch: %q, want zeros", got)
	}
	if got := c.do("touch 2 1"); got != hashOf(imgPage(2)) {
		t.Fatalf("page 2 (not dropped): %q", got)
	}
	// Denied write (read-only area) on a missing page: SIGBUS (poison).
	if err := s.Protect(pg(20), vmspace.PageSize, vmspace.ProtRead); err != nil {
		t.Fatal(err)
	}
	if got := c.do("pop 20 w"); got != strconv.Itoa(int(unix.EHWPOISON)) {
		t.Fatalf("write to a read-only page: errno %s, want EHWPOISON (SIGBUS)", got)
	}
	// Read of an unmapped page: SIGBUS too, also as a real load.
	if err := s.Unmap(pg(30), vmspace.PageSize); err != nil {
		t.Fatal(err)
	}
	if got := c.do("touch 30 1"); got != "fault" {
		t.Fatalf("load from an unmapped page: %q, want a fault", got)
	}
	// munmap by the client: mirrored into the space.
	if got := c.do("munmap 40 2"); got != "ok" {
		t.Fatal(got)
	}
	// mremap by the client: the space's area and the pages move.
	if got := c.do("touch 50 2"); got != hashOf(imgPage(50))+" "+hashOf(imgPage(51)) {
		t.Fatal(got)
	}
	if got := c.do("mremap 50 2 60"); got != "ok" {
		t.Fatal(got)
	}
	if got := c.do("touch 60 2"); got != hashOf(imgPage(50))+" "+hashOf(imgPage(51)) {
		t.Fatalf("moved pages: %q", got)
	}
	// Every event is applied once its effect is visible to the client;
	// wait for the applier through a fault served after them.
	c.do("touch 63 1")
	if _, err := s.LockArea(pg(40)); err == nil {
		t.Fatal("page 40 still mapped in the space after the client's munmap")
	}
	if _, err := s.LockArea(pg(50)); err == nil {
		t.Fatal("page 50 still mapped in the space after the client's mremap")
	}
	st := h.Stats()
	t.Logf("stats: %+v", st)
	if st.Removes != 2 || st.Unmaps < 1 || st.Remaps != 1 || st.Poisons < 2 {
		t.Fatalf("stats %+v: want 2 removes, an unmap, 1 remap, 2 poisons", st)
	}
	_ = syscall.EFAULT
}
