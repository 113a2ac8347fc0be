package uffdserve

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace/internal/uffdclient"
	"github.com/vmspace/vmspace/uffd"
)

// TestServeCooperative: a cooperative client's drop request is done by
// the server's space and reaches the client's installed pages (zeros
// after); a client without a memory channel (Firecracker's handshake) is
// refused such a request. A client that sends a memory channel and never
// answers on it is dropped with one log line when the space needs it, and
// the others keep being served.
func TestServeCooperative(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, sock, img, logs, stop := setupWith(t, Config{MemoryTimeout: 200 * time.Millisecond})
	defer stop()
	a := startProc(t, sock, uffdclient.EnvCoop+"=1")
	b := startProc(t, sock)
	checkServed(t, a, img, 0, 4)
	checkServed(t, b, img, 0, 4)
	logs.wait(fmt.Sprintf("client pid %d: serving 1 regions (cooperative)", a.cmd.Process.Pid))
	if got := a.do("sdrop 1 2"); got != "ok" {
		t.Fatalf("drop request: %q", got)
	}
	zero := hashOf(make([]byte, 4096))
	if got := a.do("touch 0 4"); got != strings.Join([]string{hashOf(img[:4096]), zero, zero, hashOf(img[3*4096 : 4*4096])}, " ") {
		t.Fatalf("after the space dropped pages 1-2: %q", got)
	}
	if got := b.do("sdrop 1 2"); got != "refused" {
		t.Fatalf("drop request of a client without a memory channel: %q, want refused", got)
	}
	checkServed(t, b, img, 1, 2)

	// A client that never answers its memory channel. Its memory is in
	// this process, registered but never touched (only the server's
	// drop reaches it, through the channel nobody reads).
	// No events asked for: its munmap at the end must not wait for a
	// handler that is gone by then.
	fd, _, err := uffd.Open(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(-1, 0, 2*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	addr := uint64(uintptr(unsafe.Pointer(&mem[0])))
	if err := uffd.Register(fd, uintptr(addr), 2*4096, uffd.RegisterMissing); err != nil {
		t.Fatal(err)
	}
	ours, theirs, err := uffd.MemoryPair()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ours)
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = uffd.WriteHandshakeMemory(conn, []uffd.Mapping{{BaseHostVirtAddr: addr, Size: 2 * 4096, PageSize: 4096}}, fd, theirs)
	unix.Close(theirs)
	if err != nil {
		t.Fatal(err)
	}
	var req [16]byte
	binary.LittleEndian.PutUint64(req[:8], addr|RequestDrop)
	binary.LittleEndian.PutUint64(req[8:], 4096)
	if _, err := conn.Write(req[:]); err != nil {
		t.Fatal(err)
	}
	line := logs.wait("dropped", "memory request unanswered")
	t.Logf("silent client: %s", line)
	// Its connection is closed: after the (refused or done) answer, EOF.
	io.Copy(io.Discard, conn)
	logs.wait(fmt.Sprintf("client pid %d gone", os.Getpid()))
	checkServed(t, a, img, 5, 2)
	checkServed(t, b, img, 5, 2)
	a.exit()
	b.exit()
}

// TestServeDemo runs the demo's client (uffdclient.DemoMain) as a second
// process against the server for a short while: lazy restore, a balloon
// that drops ranges both itself and through the server's space, and
// hot-plug; every page it reads is checked against its model. 0 lost or
// stale, and drops through the space did happen.
func TestServeDemo(t *testing.T) {
	defer goleak.VerifyNone(t)
	if fd, _, err := uffd.Open(0, 0); err != nil {
		t.Skipf("userfaultfd not permitted here (%v)", err)
	} else {
		unix.Close(fd)
	}
	dir := t.TempDir()
	const demoPages = 2048 // 8 MiB: four hot-plug chunks
	f, err := os.Create(dir + "/image")
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if err := uffdclient.WriteImage(bw, demoPages); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	f.Close()
	logs := &logLines{t: t}
	s, err := New(Config{Socket: dir + "/sock", Image: dir + "/image", Workers: 2, Logf: logs.logf})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	defer func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%v,%d,%s", uffdclient.EnvDemo, demoPages, 500*time.Millisecond, 1, uffdclient.BalloonBoth),
		uffdclient.EnvSocket+"="+dir+"/sock")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("demo client: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	var checked, bad int64
	var spaceDrops int64 = -1
	for _, line := range strings.Split(string(out), "\n") {
		fmt.Sscanf(line, "checked %d bad %d", &checked, &bad)
		if i := strings.Index(line, "drops ("); i >= 0 {
			fmt.Sscanf(line[i:], "drops (%d of them", &spaceDrops)
		}
	}
	if checked < demoPages || bad != 0 {
		t.Fatalf("demo: %d pages checked, %d lost or stale", checked, bad)
	}
	if spaceDrops <= 0 {
		t.Fatalf("demo: no drop through the server's space (%d)", spaceDrops)
	}
	logs.wait(fmt.Sprintf("client pid %d gone", cmd.Process.Pid))
}
