// Package uffdserve is `vmspace serve`: a page-fault server for other
// processes. Each client connects to a UNIX socket and sends Firecracker's
// snapshot handshake (a JSON list of regions and its userfaultfd); the
// server gives it a Space of its own with one area per region and serves
// its faults from the memory image (package uffd) until the client exits
// or the server stops. A bad client gets a one-line log and is dropped;
// the others keep being served.
//
// A cooperative client (vmspace's extension: a memory channel sent with
// the handshake, see uffd.Remote) also gets the space's own drops and
// protection changes applied to its real memory; a client that does not
// answer such a request within MemoryTimeout is dropped.
package uffdserve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// Server serves every client that connects to its listener.
type Server struct {
	ln      *net.UnixListener
	image   *os.File
	logf    func(format string, args ...any)
	workers int
	memTO   time.Duration
	// BeforeFill is passed to each client's handler (tests).
	beforeFill func(pid int, addr uint64)

	mu struct {
		sync.Mutex
		clients map[*client]struct{}
		closed  bool
	}
	wg sync.WaitGroup
}

// Config configures New.
type Config struct {
	Socket  string // path of the UNIX socket to listen on (removed first if stale)
	Image   string // the memory image
	Workers int    // fault-serving goroutines per client (default 1)
	Logf    func(format string, args ...any)
	// BeforeFill runs before each fill of client pid (tests).
	BeforeFill func(pid int, addr uint64)
	// MemoryTimeout bounds a cooperative client's answer to a memory
	// request (default DefaultMemoryTimeout).
	MemoryTimeout time.Duration
}

// DefaultMemoryTimeout is the default Config.MemoryTimeout: generous,
// since the space's write session (and every fault on its areas) waits
// for the answer, but a client that takes longer is broken.
const DefaultMemoryTimeout = 2 * time.Second

// client is one connected client.
type client struct {
	conn *net.UnixConn
	pid  int
	h    *uffd.Handler
	sp   *vmspace.Space
	ms   []uffd.Mapping
	mem  *uffd.Remote // nil: the client does not cooperate
}

// HandshakeTimeout bounds the wait for a client's handshake.
const HandshakeTimeout = 5 * time.Second

// New opens the image and listens on the socket.
func New(c Config) (*Server, error) {
	img, err := os.Open(c.Image)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(c.Socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(c.Socket)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: c.Socket, Net: "unix"})
	if err != nil {
		img.Close()
		return nil, err
	}
	s := &Server{ln: ln, image: img, logf: c.Logf, workers: c.Workers, beforeFill: c.BeforeFill, memTO: c.MemoryTimeout}
	if s.memTO <= 0 {
		s.memTO = DefaultMemoryTimeout
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.mu.clients = map[*client]struct{}{}
	return s, nil
}

// Serve accepts clients until Close; it returns nil after Close.
func (s *Server) Serve() error {
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			closed := s.mu.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveClient(conn)
		}()
	}
}

// Close stops accepting, drops every client (their handlers closed, their
// spaces closed) and waits for all goroutines. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	for c := range s.mu.clients {
		c.h.Close()
		c.conn.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
	s.image.Close()
	return nil
}

// serveClient runs one client from handshake to goodbye.
func (s *Server) serveClient(conn *net.UnixConn) {
	defer conn.Close()
	pid := uffd.PeerPid(conn)
	who := fmt.Sprintf("client pid %d", pid)
	conn.SetReadDeadline(time.Now().Add(HandshakeTimeout))
	ms, fd, mem, err := uffd.ReadHandshakeMemory(conn)
	if err != nil {
		s.logf("%s dropped: %v", who, err)
		return
	}
	conn.SetReadDeadline(time.Time{})
	c, err := s.attach(conn, pid, ms, fd, mem)
	if err != nil {
		s.logf("%s dropped: %v", who, err)
		return
	}
	coop := ""
	if c.mem != nil {
		coop = " (cooperative)"
	}
	s.logf("%s: serving %d regions%s", who, len(ms), coop)
	// The client says goodbye by closing the socket or exiting; either
	// ends the handler (the pidfd, or Close below). Until then it may
	// send plug requests.
	done := make(chan struct{})
	go func() {
		s.plugRequests(c)
		c.h.Close()
		close(done)
	}()
	err = c.h.Serve()
	c.h.Close()
	conn.Close()
	<-done
	st := c.h.Stats()
	if c.mem != nil {
		c.mem.Close()
	}
	c.sp.Close()
	s.mu.Lock()
	delete(s.mu.clients, c)
	s.mu.Unlock()
	reason := "closed"
	if err != nil {
		reason = err.Error()
	}
	s.logf("%s gone (%s): %d faults, %d copies, %d zero pages, %d poisoned, %d removes, %d unmaps, %d remaps",
		who, reason, st.Faults, st.Copies, st.Zeropages, st.Poisons, st.Removes, st.Unmaps, st.Remaps)
}

// PlugRequest is the one message a client may send after the handshake
// (vmspace's extension; Firecracker sends none): 16 bytes, the address and
// length (little-endian uint64s) of a range, the address's low 12 bits
// holding the request:
//
//   - RequestPlug: the client has just mapped the range again and
//     registered it, after munmapping it (memory hot-plug). The server
//     maps the range in the client's space (read-write, zero-filled).
//     Unplugging needs no message: the munmap's UNMAP event says it.
//   - RequestDrop (cooperative clients only): a balloon inflation done by
//     the server: the space drops the range (Advise DontNeed), and the
//     drop reaches the client's memory through its memory channel inside
//     that write session; when the answer comes, the pages read zeros.
//
// The server waits until the client's earlier events are mirrored, does
// the request and answers one byte: 0 done, 1 refused.
const PlugRequestSize = 16

// Requests, in the low bits of a PlugRequest's address.
const (
	RequestPlug = 0
	RequestDrop = 1
)

// plugRequests serves plug requests until the connection ends.
func (s *Server) plugRequests(c *client) {
	var b [PlugRequestSize]byte
	for {
		if _, err := io.ReadFull(c.conn, b[:]); err != nil {
			return
		}
		addr, n := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
		op := addr % vmspace.PageSize
		addr -= op
		c.h.Sync()
		ans := byte(0)
		switch {
		case !c.inRegions(addr, n):
			ans = 1
			s.logf("client pid %d: request %d [%#x, +%#x) outside its regions refused", c.pid, op, addr, n)
		case op == RequestPlug:
			if _, err := c.sp.Map(addr, n, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
				ans = 1
				s.logf("client pid %d: plug [%#x, +%#x): %v", c.pid, addr, n, err)
			}
		case op == RequestDrop && c.mem != nil:
			// Without a memory channel the drop would reach only the
			// space, not the client's pages: refused below.
			if err := c.sp.Advise(addr, n, vmspace.AdviseDontNeed); err != nil {
				ans = 1
				s.logf("client pid %d: drop [%#x, +%#x): %v", c.pid, addr, n, err)
			}
		default:
			ans = 1
			s.logf("client pid %d: request %d refused (unknown, or a drop without a memory channel)", c.pid, op)
		}
		if _, err := c.conn.Write([]byte{ans}); err != nil {
			return
		}
	}
}

func (c *client) inRegions(addr, n uint64) bool {
	for _, m := range c.ms {
		if addr >= m.BaseHostVirtAddr && addr+n <= m.BaseHostVirtAddr+m.Size && addr+n > addr {
			return true
		}
	}
	return false
}

// attach builds the client's space and handler.
func (s *Server) attach(conn *net.UnixConn, pid int, ms []uffd.Mapping, fd, memfd int) (*client, error) {
	var mem *uffd.Remote
	if memfd >= 0 {
		var err error
		// A client that does not answer is dropped like any bad client:
		// one line, and its connection closed (plugRequests then closes
		// its handler). Nothing here may block: it runs inside a write
		// session of the client's space.
		mem, err = uffd.NewRemote(memfd, s.memTO, func(err error) {
			s.logf("client pid %d dropped: %v", pid, err)
			conn.Close()
		})
		if err != nil {
			unix.Close(memfd)
			unix.Close(fd)
			return nil, err
		}
	}
	closeMem := func() {
		if mem != nil {
			mem.Close()
		}
	}
	sp, err := vmspace.New()
	if err != nil {
		closeMem()
		unix.Close(fd)
		return nil, err
	}
	regions := make([]uffd.Region, len(ms))
	rw := vmspace.ProtRead | vmspace.ProtWrite
	for i, m := range ms {
		if _, err := sp.Map(m.BaseHostVirtAddr, m.Size, rw, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed); err != nil {
			sp.Close()
			closeMem()
			unix.Close(fd)
			return nil, fmt.Errorf("region %d [%#x, +%#x): %w", i, m.BaseHostVirtAddr, m.Size, err)
		}
		regions[i] = uffd.Region{Host: m.BaseHostVirtAddr, Size: m.Size, Base: m.BaseHostVirtAddr,
			Source: s.image, SourceOff: int64(m.Offset)}
	}
	cfg := uffd.Config{Regions: regions, Workers: s.workers, Logf: s.logf, Pid: pid}
	if mem != nil {
		cfg.Memory = mem
	}
	if pid > 0 {
		if pfd, err := unix.PidfdOpen(pid, 0); err == nil {
			cfg.Pidfd = pfd // the handler owns it from New on
		}
	}
	if s.beforeFill != nil {
		cfg.BeforeFill = func(addr uint64) { s.beforeFill(pid, addr) }
	}
	h, err := uffd.New(sp, fd, cfg)
	if err != nil {
		if cfg.Pidfd > 0 {
			unix.Close(cfg.Pidfd)
		}
		sp.Close()
		closeMem()
		unix.Close(fd)
		return nil, err
	}
	c := &client{conn: conn, pid: pid, h: h, sp: sp, ms: ms, mem: mem}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		h.Close()
		closeMem()
		sp.Close()
		return nil, errors.New("server closing")
	}
	s.mu.clients[c] = struct{}{}
	s.mu.Unlock()
	return c, nil
}
