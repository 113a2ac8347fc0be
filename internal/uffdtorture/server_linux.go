package uffdtorture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// handlerLogPrefix starts the lines of the handlers' Logf.
const handlerLogPrefix = "server: client pid %d: handler: "

// server serves every client of one run: one Space and one uffd.Handler
// per client, the Memory forwarding to the client.
type server struct {
	ln    *net.UnixListener
	image *os.File
	cfg   *Config
	logf  func(format string, args ...any)

	mu struct {
		sync.Mutex
		clients map[*sclient]struct{}
		closed  bool
		stats   ServerStats // of the clients gone
		gone    int
	}
	wg sync.WaitGroup
}

// sclient is one connected client.
type sclient struct {
	conn *net.UnixConn
	w    msgWriter
	pid  int
	sp   *vmspace.Space
	h    *uffd.Handler

	callMu   sync.Mutex  // one Memory call in flight (sessions are serialized anyway)
	acks     chan uint64 // the answer to the Memory call in flight
	reqs     chan message
	dead     chan struct{} // closed when the connection is gone
	injected atomic.Uint64
	fills    atomic.Uint64 // fills asked about by InjectEAGAIN
}

func newServer(sock, image string, cfg *Config, logf func(string, ...any)) (*server, error) {
	img, err := os.Open(image)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		img.Close()
		return nil, err
	}
	s := &server{ln: ln, image: img, cfg: cfg, logf: logf}
	s.mu.clients = map[*sclient]struct{}{}
	return s, nil
}

func (s *server) serve() {
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveClient(conn)
		}()
	}
}

// close drops every client and waits for their goroutines.
func (s *server) close() {
	s.mu.Lock()
	s.mu.closed = true
	for c := range s.mu.clients {
		c.h.Close()
		c.conn.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
	s.image.Close()
}

// waitGone waits until n clients have gone (their handler counters
// added), or the timeout.
func (s *server) waitGone(n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		g := s.mu.gone
		s.mu.Unlock()
		if g >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) stats() ServerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.stats
}

func (s *server) serveClient(conn *net.UnixConn) {
	defer conn.Close()
	ms, fd, err := uffd.ReadHandshake(conn)
	if err != nil {
		s.logf("server: client dropped: %v", err)
		return
	}
	c := &sclient{conn: conn, w: msgWriter{w: conn}, acks: make(chan uint64, 1), reqs: make(chan message, 4), dead: make(chan struct{})}
	c.pid = uffd.PeerPid(conn)
	if err := s.attach(c, ms, fd); err != nil {
		s.logf("server: client pid %d dropped: %v", c.pid, err)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readConn() }()
	go func() { defer wg.Done(); c.serveRequests(s) }()
	err = c.h.Serve()
	conn.Close() // ends readConn, then serveRequests
	wg.Wait()
	c.h.Close()
	st := c.h.Stats()
	c.sp.Close()
	s.mu.Lock()
	delete(s.mu.clients, c)
	t := &s.mu.stats
	t.Faults += st.Faults
	t.Copies += st.Copies
	t.Zeropages += st.Zeropages
	t.Poisons += st.Poisons
	t.EAGAIN += st.EAGAIN
	t.Injected += c.injected.Load()
	t.EEXIST += st.EEXIST
	t.Gone += st.Gone
	t.Removes += st.Removes
	t.Unmaps += st.Unmaps
	t.Remaps += st.Remaps
	t.Self += st.SelfEvents
	s.mu.gone++
	s.mu.Unlock()
	s.logf("server: client pid %d gone (%v): %d faults, %d copies, %d zero pages, %d EAGAIN (%d injected), %d REMOVE, %d UNMAP, %d REMAP mirrored, %d own REMOVE",
		c.pid, err, st.Faults, st.Copies, st.Zeropages, st.EAGAIN, c.injected.Load(), st.Removes, st.Unmaps, st.Remaps, st.SelfEvents)
}

// attach gives the client a space (one read-write area per region) and a
// handler.
func (s *server) attach(c *sclient, ms []uffd.Mapping, fd int) error {
	sp, err := vmspace.New()
	if err != nil {
		unix.Close(fd)
		return err
	}
	regions := make([]uffd.Region, len(ms))
	for i, m := range ms {
		if _, err := sp.Map(m.BaseHostVirtAddr, m.Size, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
			sp.Close()
			unix.Close(fd)
			return err
		}
		regions[i] = uffd.Region{Host: m.BaseHostVirtAddr, Size: m.Size, Base: m.BaseHostVirtAddr, Source: s.image, SourceOff: int64(m.Offset)}
	}
	cfg := uffd.Config{Regions: regions, Memory: (*remote)(c), Workers: s.cfg.Workers, Pid: c.pid,
		Logf: func(format string, args ...any) {
			s.logf(handlerLogPrefix+format, append([]any{c.pid}, args...)...)
		}}
	if n := s.cfg.EAGAINOneIn; n > 0 {
		seed := s.cfg.Seed ^ uint64(c.pid)<<32
		cfg.InjectEAGAIN = func(uint64) bool {
			if mix(seed+c.fills.Add(1))%uint64(n) != 0 {
				return false
			}
			c.injected.Add(1)
			return true
		}
	}
	if c.pid > 0 {
		if pfd, err := unix.PidfdOpen(c.pid, 0); err == nil {
			cfg.Pidfd = pfd
		}
	}
	h, err := uffd.New(sp, fd, cfg)
	if err != nil {
		if cfg.Pidfd > 0 {
			unix.Close(cfg.Pidfd)
		}
		sp.Close()
		unix.Close(fd)
		return err
	}
	c.sp, c.h = sp, h
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		h.Close()
		sp.Close()
		return errors.New("server closing")
	}
	s.mu.clients[c] = struct{}{}
	return nil
}

// readConn sorts what the client sends: answers to Memory calls, and
// requests (served in order by serveRequests, so that this goroutine is
// always free to take the answer of a Memory call made by a request's
// write session).
func (c *sclient) readConn() {
	defer close(c.dead)
	defer close(c.reqs)
	for {
		m, err := readMsg(c.conn)
		if err != nil {
			return
		}
		switch m.op {
		case opAck:
			select {
			case c.acks <- m.c:
			default: // an answer nobody waits for: drop it
			}
		default:
			c.reqs <- m
		}
	}
}

// serveRequests runs the client's requests through its space.
func (c *sclient) serveRequests(s *server) {
	rw := vmspace.ProtRead | vmspace.ProtWrite
	fixed := vmspace.MapPrivate | vmspace.MapAnonymous | vmspace.MapFixed
	for m := range c.reqs {
		var err error
		switch m.op {
		case reqPlug:
			// No Sync first: the handler orders every write session of
			// the space after the events read so far (Handler.Order), so
			// the client's munmap or mremap of the range, returned before
			// it asked, is mirrored before the new area exists.
			_, err = c.sp.Map(m.a, m.b, rw, fixed)
		case reqAdvise:
			err = c.sp.Advise(m.a, m.b, vmspace.AdviseDontNeed)
		case reqProtect:
			err = c.sp.Protect(m.a, m.b, vmspace.Prot(m.c))
		case reqUnmap:
			err = c.sp.Unmap(m.a, m.b)
		case reqMap:
			_, err = c.sp.Map(m.a, m.b, rw, fixed)
		default:
			err = fmt.Errorf("unknown request %d", m.op)
		}
		var e uint64
		if err != nil {
			s.logf("server: client pid %d: request %d [%#x, +%#x): %v", c.pid, m.op, m.a, m.b, err)
			e = uint64(unix.EINVAL)
			var errno syscall.Errno
			if errors.As(err, &errno) {
				e = uint64(errno)
			}
		}
		if c.w.write(message{op: opDone, c: e}) != nil {
			return
		}
	}
}

// remote is the Memory of a client: the space's zaps and protection
// changes, made inside a write session, are done by the client itself
// (it answers from a goroutine that takes no lock of its own).
type remote sclient

var errGone = errors.New("client gone")

func (r *remote) call(op, addr, length, arg uint64) error {
	c := (*sclient)(r)
	c.callMu.Lock()
	defer c.callMu.Unlock()
	if err := c.w.write(message{op: op, a: addr, b: length, c: arg}); err != nil {
		return errGone
	}
	select {
	case e := <-c.acks:
		if e != 0 {
			return syscall.Errno(e)
		}
		return nil
	case <-c.dead:
		return errGone
	}
}

func (r *remote) Zap(addr, length uint64) error { return r.call(callZap, addr, length, 0) }

func (r *remote) Protect(addr, length uint64, prot vmspace.Prot) error {
	return r.call(callProtect, addr, length, uint64(prot))
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
