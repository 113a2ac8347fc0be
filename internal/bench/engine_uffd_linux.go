package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/internal/mmaccess"
	"github.com/vmspace/vmspace/internal/uffdclient"
	"github.com/vmspace/vmspace/uffd"
)

// The uffd engines: F is a thread of a separate process (the client) that
// write-touches the pages of its area, which lie in a 1 GiB window of its
// memory registered with a userfaultfd, and drops them with
// madvise(MADV_DONTNEED); this process serves the faults. The client
// times each touch as the touching thread sees it (the trap, the round
// trip to the handler, the fill, the return). W churns the handler's
// space as in the other vmspace engines.
//
//   - uffd-per-area: the handler serves each fault under the area read
//     lock of a per-area space; the client's drops arrive as REMOVE events
//     and are mirrored into the space.
//   - uffd-whole-space: the same with a whole-space space: every fault
//     takes the space lock for reading.
//   - uffd-minimal: no space at all: one goroutine reads the descriptor and
//     answers every fault with UFFDIO_ZEROPAGE at once (the floor). W has
//     nothing to churn and its calls are no-ops.

// windowLen is the client's registered window.
const windowLen = 1 << 30

// EnvBenchClient makes a process run BenchClientMain.
const EnvBenchClient = "VMSPACE_BENCH_UFFD_CLIENT"

// uffdTarget is one uffd engine set up for a run.
type uffdTarget struct {
	vm      *vmTarget // nil for uffd-minimal
	h       *uffd.Handler
	minimal *minimalHandler
	served  sync.WaitGroup
	cmd     *exec.Cmd
	in      *bufio.Writer
	out     *bufio.Reader
	cpu0    time.Duration
}

func openUffdPerArea(cfg *Config) (target, error) { return openUffd(cfg, "per-area") }
func openUffdWhole(cfg *Config) (target, error)   { return openUffd(cfg, "whole-space") }
func openUffdMinimal(cfg *Config) (target, error) { return openUffd(cfg, "minimal") }

func openUffd(cfg *Config, kind string) (target, error) {
	t := &uffdTarget{}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	theirs := os.NewFile(uintptr(fds[1]), "client")
	ours := os.NewFile(uintptr(fds[0]), "server")
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		return nil, err
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()
	exe, err := os.Executable()
	if err != nil {
		theirs.Close()
		return nil, err
	}
	t.cmd = exec.Command(exe, "-test.run=^$")
	t.cmd.Env = append(os.Environ(), EnvBenchClient+"=1")
	t.cmd.ExtraFiles = []*os.File{theirs}
	t.cmd.Stderr = os.Stderr
	stdin, _ := t.cmd.StdinPipe()
	stdout, _ := t.cmd.StdoutPipe()
	t.in, t.out = bufio.NewWriter(stdin), bufio.NewReader(stdout)
	if err := t.cmd.Start(); err != nil {
		theirs.Close()
		return nil, err
	}
	theirs.Close()
	ms, fd, err := uffd.ReadHandshake(conn)
	if err != nil {
		t.kill()
		return nil, err
	}
	host := ms[0].BaseHostVirtAddr
	if kind == "minimal" {
		t.minimal = &minimalHandler{fd: fd}
		if err := t.minimal.start(); err != nil {
			unix.Close(fd)
			t.kill()
			return nil, err
		}
	} else {
		mode := vmspace.PerArea
		if kind == "whole-space" {
			mode = vmspace.WholeSpace
		}
		sp, err := vmspace.New(vmspace.WithLockMode(mode), vmspace.WithRecycling(!cfg.NoRecycle))
		if err != nil {
			unix.Close(fd)
			t.kill()
			return nil, err
		}
		vt, err := newVMTarget(cfg, mmaccess.Unwrap(sp))
		if err != nil {
			sp.Close()
			unix.Close(fd)
			t.kill()
			return nil, err
		}
		t.vm = vt.(*vmTarget)
		h, err := uffd.New(sp, fd, uffd.Config{
			Regions:    []uffd.Region{{Host: host, Size: windowLen, Base: vmRegion + fOff}},
			MeasureCPU: true,
			// Whose memory it is: the handler reads which pages the
			// client holds (its pagemap) instead of assuming all.
			Pid: t.cmd.Process.Pid,
		})
		if err != nil {
			unix.Close(fd)
			t.vm.close()
			t.kill()
			return nil, err
		}
		t.h = h
		t.served.Add(1)
		go func() { defer t.served.Done(); h.Serve() }()
	}
	return t, nil
}

func (t *uffdTarget) kill() {
	t.cmd.Process.Kill()
	t.cmd.Wait()
}

func (t *uffdTarget) mapFixed(off, length uint64, prot uint32) error {
	if t.vm == nil {
		return nil
	}
	return t.vm.mapFixed(off, length, prot)
}

func (t *uffdTarget) unmap(off, length uint64) error {
	if t.vm == nil {
		return nil
	}
	return t.vm.unmap(off, length)
}

func (t *uffdTarget) protect(off, length uint64, prot uint32) error {
	if t.vm == nil {
		return nil
	}
	return t.vm.protect(off, length, prot)
}

func (t *uffdTarget) touch(int) error { return fmt.Errorf("uffd engines fault in their client") }
func (t *uffdTarget) drop() error     { return fmt.Errorf("uffd engines drop in their client") }
func (t *uffdTarget) dropMethod() string {
	return "client madvise"
}

func (t *uffdTarget) counters() (Counters, bool) {
	if t.vm == nil {
		return Counters{}, false
	}
	return t.vm.counters()
}

func (t *uffdTarget) frames() (Frames, bool) {
	if t.vm == nil {
		return Frames{}, false
	}
	return t.vm.frames()
}

// ask sends one command to the client and returns its reply line.
func (t *uffdTarget) ask(cmd string) (string, error) {
	fmt.Fprintln(t.in, cmd)
	if err := t.in.Flush(); err != nil {
		return "", err
	}
	line, err := t.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("uffd client: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// warm runs rounds untimed rounds in the client.
func (t *uffdTarget) warm(rounds int) error {
	_, err := t.ask("warm " + strconv.Itoa(rounds))
	t.cpu0 = t.handlerCPU()
	return err
}

// remoteFaultLoop runs F in the client for d and collects its figures.
func (t *uffdTarget) remoteFaultLoop(d time.Duration, out *sample) error {
	line, err := t.ask("run " + strconv.FormatInt(int64(d), 10))
	if err != nil {
		return err
	}
	var r clientResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return fmt.Errorf("uffd client reply %q: %w", line, err)
	}
	out.faults, out.fElapsed = r.Faults, time.Duration(r.ElapsedNs)
	r.Hist.into(out.hist)
	out.handlerCPU = t.handlerCPU() - t.cpu0
	out.hasHandlerCPU = true
	return nil
}

// handlerCPU is the CPU time of the handler's threads so far.
func (t *uffdTarget) handlerCPU() time.Duration {
	if t.minimal != nil {
		return t.minimal.cpu()
	}
	return time.Duration(t.h.Stats().CPUNs)
}

func (t *uffdTarget) close() error {
	t.ask("exit")
	t.cmd.Wait()
	if t.h != nil {
		t.h.Close()
		t.served.Wait()
		if os.Getenv("VMSPACE_BENCH_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "handler stats: %+v\n", t.h.Stats())
		}
	}
	if t.minimal != nil {
		t.minimal.stop()
	}
	if t.vm != nil {
		t.vm.close()
	}
	return nil
}

// minimalHandler answers every fault with UFFDIO_ZEROPAGE and reads
// events, nothing else: the floor of a userfaultfd handler.
type minimalHandler struct {
	fd    int
	stopR int
	stopW int
	done  chan struct{}
	cpuNs int64
	mu    sync.Mutex
}

func (m *minimalHandler) start() error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return err
	}
	m.stopR, m.stopW = p[0], p[1]
	unix.SetNonblock(m.fd, true)
	m.done = make(chan struct{})
	go m.loop()
	return nil
}

func (m *minimalHandler) loop() {
	defer close(m.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var buf [64 * 32]byte
	pfd := []unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLIN}, {Fd: int32(m.stopR), Events: unix.POLLIN}}
	for {
		m.mu.Lock()
		m.cpuNs = threadCPU()
		m.mu.Unlock()
		pfd[0].Revents, pfd[1].Revents = 0, 0
		unix.Poll(pfd, -1)
		if pfd[1].Revents != 0 {
			return
		}
		n, err := unix.Read(m.fd, buf[:])
		if err != nil {
			continue
		}
		for p := buf[:n]; len(p) >= 32; p = p[32:] {
			if p[0] != 0x12 { // events: reading them is all they need
				continue
			}
			addr := *(*uint64)(unsafe.Pointer(&p[16])) &^ (pageSize - 1)
			uffd.ZeroPage(m.fd, addr, pageSize)
			// (a fault the kernel could not fill now, EAGAIN, comes
			// back: the thread retries after its wake-up)
		}
	}
}

func (m *minimalHandler) cpu() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Duration(m.cpuNs)
}

func (m *minimalHandler) stop() {
	unix.Write(m.stopW, []byte{0})
	<-m.done
	unix.Close(m.fd)
	unix.Close(m.stopR)
	unix.Close(m.stopW)
}

// threadCPU is the calling thread's CPU time in ns.
func threadCPU() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}

// clientResult is the client's reply to "run".
type clientResult struct {
	Faults    uint64   `json:"faults"`
	ElapsedNs int64    `json:"elapsed_ns"`
	Hist      histWire `json:"hist"`
}

// histWire is a Hist on the wire: its non-empty buckets.
type histWire struct {
	Idx    []int    `json:"i"`
	Counts []uint64 `json:"c"`
	N      uint64   `json:"n"`
	Sum    float64  `json:"s"`
	Min    uint64   `json:"min"`
	Max    uint64   `json:"max"`
}

func wireOf(h *Hist) histWire {
	w := histWire{N: h.n, Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c != 0 {
			w.Idx, w.Counts = append(w.Idx, i), append(w.Counts, c)
		}
	}
	return w
}

func (w histWire) into(h *Hist) {
	for k, i := range w.Idx {
		h.counts[i] += w.Counts[k]
	}
	h.n, h.sum, h.min, h.max = w.N, w.Sum, w.Min, w.Max
}

// BenchClientMain is the uffd engines' client, run when EnvBenchClient is
// set: it registers a 1 GiB window, sends the handshake on descriptor 3,
// then obeys "warm N", "run NS" and "exit" on standard input. F's area is
// the window's first FPages pages.
func BenchClientMain() error {
	runtime.LockOSThread()
	debug.SetGCPercent(-1) // the loop allocates nothing; no collector in the way
	c, err := uffdclient.Open(windowLen)
	if err != nil {
		return err
	}
	fc, err := net.FileConn(os.NewFile(3, "socket"))
	if err != nil {
		return err
	}
	if err := c.Handshake(fc.(*net.UnixConn), 0); err != nil {
		return err
	}
	touch := func(i int) { c.Mem[i*pageSize] = 1 }
	drop := func() error {
		_, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(c.Addr), fLen, unix.MADV_DONTNEED)
		if e != 0 {
			return e
		}
		return nil
	}
	sc := bufio.NewScanner(os.Stdin)
	w := bufio.NewWriter(os.Stdout)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		switch fs[0] {
		case "warm":
			n, _ := strconv.Atoi(fs[1])
			for range n {
				for i := range FPages {
					touch(i)
				}
				if err := drop(); err != nil {
					return err
				}
			}
			fmt.Fprintln(w, "ok")
		case "run":
			ns, _ := strconv.ParseInt(fs[1], 10, 64)
			var h Hist
			start := now()
			deadline := start + time.Duration(ns)
			var faults uint64
			for {
				for i := range FPages {
					t0 := now()
					touch(i)
					h.Record(int64(now() - t0))
				}
				faults += FPages
				if err := drop(); err != nil {
					return err
				}
				if now() >= deadline {
					break
				}
			}
			b, _ := json.Marshal(clientResult{faults, int64(now() - start), wireOf(&h)})
			w.Write(b)
			w.WriteByte('\n')
		case "exit":
			w.Flush()
			return nil
		}
		w.Flush()
	}
	return sc.Err()
}
