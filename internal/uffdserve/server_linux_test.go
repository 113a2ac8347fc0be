package uffdserve

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace/internal/uffdclient"
	"github.com/vmspace/vmspace/uffd"
)

func TestMain(m *testing.M) {
	if v := os.Getenv(uffdclient.EnvDemo); v != "" {
		if err := uffdclient.DemoMain(v, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "demo client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
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

const pages = 32

// logLines collects the server's log.
type logLines struct {
	mu    sync.Mutex
	lines []string
	t     *testing.T
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := fmt.Sprintf(format, args...)
	l.lines = append(l.lines, s)
	l.t.Log(s)
}

// wait waits for a line containing every part.
func (l *logLines) wait(parts ...string) string {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, s := range l.lines {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(s, p)
			}
			if ok {
				l.mu.Unlock()
				return s
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	l.t.Fatalf("no log line with %q", parts)
	return ""
}

type proc struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startProc(t *testing.T, sock string, env ...string) *proc {
	t.Helper()
	p := &proc{t: t}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), uffdclient.EnvScript+"="+strconv.Itoa(pages), uffdclient.EnvSocket+"="+sock)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stderr = os.Stderr
	p.in, _ = p.cmd.StdinPipe()
	out, _ := p.cmd.StdoutPipe()
	p.out = bufio.NewReader(out)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

func (p *proc) do(cmd string) string {
	p.t.Helper()
	fmt.Fprintln(p.in, cmd)
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("client %q: %v", cmd, err)
	}
	return strings.TrimSpace(line)
}

func (p *proc) exit() {
	fmt.Fprintln(p.in, "exit")
	p.in.Close()
	p.cmd.Wait()
}

func hashOf(b []byte) string { return strconv.FormatUint(uffdclient.Hash(b), 16) }

// setup writes an image and starts a server; it skips without userfaultfd.
func setup(t *testing.T, beforeFill func(pid int, addr uint64)) (*Server, string, []byte, *logLines, func()) {
	t.Helper()
	return setupWith(t, Config{BeforeFill: beforeFill})
}

// setupWith is setup with a Config (its Socket, Image and Logf are set
// here).
func setupWith(t *testing.T, cfg Config) (*Server, string, []byte, *logLines, func()) {
	t.Helper()
	if fd, _, err := uffd.Open(0, 0); err != nil {
		t.Skipf("userfaultfd not permitted here (%v): needs vm.unprivileged_userfaultfd=1 or CAP_SYS_PTRACE", err)
	} else {
		unix.Close(fd)
	}
	dir := t.TempDir()
	img := make([]byte, pages*4096)
	for i := range img {
		img[i] = byte(i/4096*13 + i%239 + 1)
	}
	imgPath := filepath.Join(dir, "image")
	if err := os.WriteFile(imgPath, img, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	logs := &logLines{t: t}
	cfg.Socket, cfg.Image, cfg.Logf = sock, imgPath, logs.logf
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	return s, sock, img, logs, func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

// checkServed touches pages of p and compares them with the image.
func checkServed(t *testing.T, p *proc, img []byte, first, n int) {
	t.Helper()
	var want []string
	for i := first; i < first+n; i++ {
		want = append(want, hashOf(img[i*4096:(i+1)*4096]))
	}
	if got := p.do(fmt.Sprintf("touch %d %d", first, n)); got != strings.Join(want, " ") {
		t.Fatalf("touch %d %d = %q, want the image's %q", first, n, got, want)
	}
}

// TestServe: two clients served at once from the image; a client's
// MADV_DONTNEED reads back zeros; every kind of bad handshake is logged
// and dropped while the clients keep being served; shutdown leaves no
// goroutine behind.
func TestServe(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, sock, img, logs, stop := setup(t, nil)
	defer stop()
	a, b := startProc(t, sock), startProc(t, sock)
	checkServed(t, a, img, 0, 4)
	checkServed(t, b, img, 2, 4)
	if got := a.do("dontneed 0 1"); got != "ok" {
		t.Fatal(got)
	}
	if got := a.do("touch 0 1"); got != hashOf(make([]byte, 4096)) {
		t.Fatalf("page dropped by the client: %q, want zeros", got)
	}

	uffdFd := func() int {
		fd, _, err := uffd.Open(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	var pipe [2]int
	unix.Pipe(pipe[:])
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	good := `[{"base_host_virt_addr":1048576,"size":8192,"offset":0,"page_size":4096}]`
	for i, tc := range []struct {
		name, msg string
		fd        int // -1: none
		close     bool
		want      string
	}{
		{"malformed", `{not json`, uffdFd(), false, "malformed region list"},
		{"truncated", `[{"base_host_virt_addr":1048576,"si`, uffdFd(), false, "malformed region list"},
		{"overlapping", `[{"base_host_virt_addr":1048576,"size":8192,"offset":0,"page_size":4096},{"base_host_virt_addr":1052672,"size":8192,"offset":0,"page_size":4096}]`, uffdFd(), false, "overlap"},
		{"unaligned", `[{"base_host_virt_addr":1048577,"size":8192,"offset":0,"page_size":4096}]`, uffdFd(), false, "unaligned"},
		{"page size", `[{"base_host_virt_addr":1048576,"size":8192,"offset":0,"page_size":2097152}]`, uffdFd(), false, "page size"},
		{"not a uffd", good, pipe[0], false, "not a userfaultfd"},
		{"no descriptor", good, -1, false, "0 descriptors"},
		{"nothing sent", "", -1, true, "handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc.close {
				conn.CloseWrite()
			} else {
				var oob []byte
				if tc.fd >= 0 {
					oob = unix.UnixRights(tc.fd)
				}
				if _, _, err := conn.WriteMsgUnix([]byte(tc.msg), oob, nil); err != nil {
					t.Fatal(err)
				}
				if tc.fd >= 0 && tc.fd != pipe[0] {
					unix.Close(tc.fd)
				}
			}
			line := logs.wait("dropped", tc.want)
			if strings.Contains(line, "\n") {
				t.Fatalf("log reason is not one line: %q", line)
			}
			// The others keep being served.
			checkServed(t, a, img, 4+i, 1)
			checkServed(t, b, img, 10+i, 1)
		})
	}
	a.exit()
	b.exit()
	logs.wait(fmt.Sprintf("client pid %d gone", a.cmd.Process.Pid))
	logs.wait(fmt.Sprintf("client pid %d gone", b.cmd.Process.Pid))
}

// TestServeClientDiesMidFault: a client killed while the server is in the
// middle of its fault is dropped with a log line; another client keeps
// being served.
func TestServeClientDiesMidFault(t *testing.T) {
	defer goleak.VerifyNone(t)
	var victim atomic.Int64
	inFault := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	_, sock, img, logs, stop := setup(t, func(pid int, addr uint64) {
		if int64(pid) == victim.Load() {
			once.Do(func() { close(inFault) })
			<-release
		}
	})
	defer stop()
	a := startProc(t, sock)
	checkServed(t, a, img, 0, 1)
	b := startProc(t, sock)
	victim.Store(int64(b.cmd.Process.Pid))
	fmt.Fprintln(b.in, "touch 3 1")
	<-inFault
	b.cmd.Process.Kill()
	b.cmd.Wait()
	close(release)
	logs.wait(fmt.Sprintf("client pid %d gone", b.cmd.Process.Pid))
	checkServed(t, a, img, 1, 3)
	a.exit()
}

// TestServeShutdown: closing the server with clients connected ends every
// goroutine; a client fault afterwards is no longer served by us (the
// kernel treats the range as unregistered).
func TestServeShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, sock, img, logs, stop := setup(t, nil)
	a := startProc(t, sock)
	checkServed(t, a, img, 0, 2)
	stop()
	logs.wait(fmt.Sprintf("client pid %d gone", a.cmd.Process.Pid))
	if got := a.do("touch 5 1"); got != "fault" {
		t.Fatalf("after shutdown: %q, want a fault (SIGBUS)", got)
	}
	checkServed(t, a, img, 0, 2)
	a.exit()
}
