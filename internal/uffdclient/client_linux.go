// Package uffdclient is the faulting side used by vmspace's tests, demo and
// benchmark: a process that maps memory, registers it with a userfaultfd,
// hands the descriptor to a vmspace server with Firecracker's handshake
// and then touches the memory with real loads and stores.
//
// A Go client may touch its registered memory from its goroutines: the
// faults are served by another process, which does not depend on this
// process's garbage collector. (A goroutine waiting in such a fault holds
// its P and delays this process's stop-the-world until the server answers;
// that is the Go trap seen from the client side, harmless while the
// server lives in another process.)
package uffdclient

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace/uffd"
)

// PageSize is the page size.
const PageSize = 4096

// Client is a registered memory region and its userfaultfd.
type Client struct {
	Mem  []byte
	Addr uint64
	Fd   int
	// Mode is the UFFDIO_REGISTER mode used: MISSING, and WP where the
	// kernel offers it (the server then write-protects the installed
	// pages of read-only areas). Register re-plugged memory with it.
	Mode uint64
}

// Features are the features the client asks for: the events through which
// its own layout changes reach the server, poison for denied accesses,
// move for the server's remaps.
const Features = uffd.FeatureEventRemove | uffd.FeatureEventUnmap | uffd.FeatureEventRemap | uffd.FeaturePoison | uffd.FeatureMove

// Open maps size bytes, opens a userfaultfd and registers the mapping.
func Open(size int) (*Client, error) {
	fd, offered, err := uffd.Open(0, Features)
	if err != nil {
		fd, offered, err = uffd.Open(uffd.UserModeOnly, Features)
	}
	if err != nil {
		return nil, fmt.Errorf("userfaultfd: %w", err)
	}
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	addr := uint64(uintptr(unsafe.Pointer(&mem[0])))
	mode := uint64(uffd.RegisterMissing)
	if offered&uffd.FeaturePagefaultFlagWP != 0 {
		mode |= uffd.RegisterWP
	}
	if err := uffd.Register(fd, uintptr(addr), uintptr(size), mode); err != nil {
		unix.Close(fd)
		unix.Munmap(mem)
		return nil, fmt.Errorf("register: %w", err)
	}
	return &Client{Mem: mem, Addr: addr, Fd: fd, Mode: mode}, nil
}

// Handshake sends the region (contents at offset in the server's image)
// and the descriptor on conn.
func (c *Client) Handshake(conn *net.UnixConn, offset uint64) error {
	return uffd.WriteHandshake(conn, []uffd.Mapping{{
		BaseHostVirtAddr: c.Addr, Size: uint64(len(c.Mem)), Offset: offset, PageSize: PageSize,
	}}, c.Fd)
}

// HandshakeMemory is Handshake for a cooperative client: it also sends
// the other end of a memory channel and answers the server's drops and
// protection changes on it (uffd.ServeMemory) from a goroutine of its
// own, which takes none of the caller's locks, until the server closes
// the channel.
func (c *Client) HandshakeMemory(conn *net.UnixConn, offset uint64) error {
	ours, theirs, err := uffd.MemoryPair()
	if err != nil {
		return err
	}
	err = uffd.WriteHandshakeMemory(conn, []uffd.Mapping{{
		BaseHostVirtAddr: c.Addr, Size: uint64(len(c.Mem)), Offset: offset, PageSize: PageSize,
	}}, c.Fd, theirs)
	unix.Close(theirs)
	if err != nil {
		unix.Close(ours)
		return err
	}
	go func() {
		uffd.ServeMemory(ours, c.Fd)
		unix.Close(ours)
	}()
	return nil
}

// dropRequest asks the server to drop n bytes at addr through the space
// (uffdserve.RequestDrop in the address's low bits) and waits for the
// answer: the pages read zeros when it returns true. Cooperative clients
// only.
func dropRequest(conn *net.UnixConn, addr, n uint64) (bool, error) {
	const requestDrop = 1 // uffdserve.RequestDrop
	var req [16]byte
	binary.LittleEndian.PutUint64(req[:8], addr|requestDrop)
	binary.LittleEndian.PutUint64(req[8:], n)
	if _, err := conn.Write(req[:]); err != nil {
		return false, err
	}
	var ans [1]byte
	if _, err := io.ReadFull(conn, ans[:]); err != nil {
		return false, err
	}
	return ans[0] == 0, nil
}

// Page returns page i of the region.
func (c *Client) Page(i int) []byte { return c.Mem[i*PageSize : (i+1)*PageSize] }

// Touch reads page i with loads (real faults) and returns its FNV-1a
// hash; ok is false if the access raised SIGBUS or SIGSEGV.
func (c *Client) Touch(i int) (sum uint64, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	return Hash(c.Page(i)), true
}

// Store fills page i with b by stores (real write faults); false on a
// signal.
func (c *Client) Store(i int, b byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	p := c.Page(i)
	for j := range p {
		p[j] = b
	}
	return true
}

// Populate faults page i in with MADV_POPULATE_READ/WRITE and returns the
// errno: 0, EHWPOISON (the access would get SIGBUS), EFAULT (SIGSEGV),
// ENOMEM (nothing mapped).
func (c *Client) Populate(i int, write bool) unix.Errno {
	adv := unix.MADV_POPULATE_READ
	if write {
		adv = unix.MADV_POPULATE_WRITE
	}
	_, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(c.Addr)+uintptr(i*PageSize), PageSize, uintptr(adv))
	return e
}

// Hash is the FNV-1a hash of p.
func Hash(p []byte) uint64 {
	h := fnv.New64a()
	h.Write(p)
	return h.Sum64()
}

// EnvScript names the environment variable that makes a test binary (or
// vmspace itself) run Script instead of its usual work: its value is
// "PAGES" (the region size in pages); the socket is file descriptor 3, or
// the path in EnvSocket.
const EnvScript = "VMSPACE_UFFD_SCRIPT"

// EnvSocket, if set, is the path of the server's socket, which the client
// dials instead of using descriptor 3.
const EnvSocket = "VMSPACE_UFFD_SOCKET"

// EnvCoop, if "1", makes the scripted client cooperative: it sends a
// memory channel with its handshake (HandshakeMemory).
const EnvCoop = "VMSPACE_UFFD_COOP"

// ScriptMain runs the scripted client: it opens a region of pages pages,
// sends the handshake on the socket at descriptor 3, then answers one line
// per command read from r:
//
//	addr                 the region's address, in decimal
//	touch I N            hashes of pages I..I+N-1 read by loads (hex, or "fault")
//	store I B            fill page I with byte B by stores: "ok" or "fault"
//	astore I B           store I B in the background: "started"
//	poll                 the background store's answer, or "pending"
//	await                wait for the background store's answer
//	pop I r|w            MADV_POPULATE_READ/WRITE on page I: the errno number
//	dontneed I N         MADV_DONTNEED on pages I..I+N-1: "ok" or the errno
//	munmap I N           munmap of pages I..I+N-1
//	mremap I N J         move pages I..I+N-1 to page J (MREMAP_FIXED)
//	sdrop I N            ask the server to drop pages I..I+N-1 through
//	                     its space (cooperative): "ok" or "refused"
//	exit
func ScriptMain(pages int, r io.Reader, w io.Writer) error {
	c, err := Open(pages * PageSize)
	if err != nil {
		return err
	}
	var conn *net.UnixConn
	if path := os.Getenv(EnvSocket); path != "" {
		conn, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	} else {
		var fc net.Conn
		fc, err = net.FileConn(os.NewFile(3, "socket"))
		if err == nil {
			conn = fc.(*net.UnixConn)
		}
	}
	if err != nil {
		return err
	}
	if os.Getenv(EnvCoop) == "1" {
		err = c.HandshakeMemory(conn, 0)
	} else {
		err = c.Handshake(conn, 0)
	}
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	sc := bufio.NewScanner(r)
	var bg chan string // the background store's answer (astore)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		arg := func(i int) int {
			if i >= len(fs) {
				return 0
			}
			n, _ := strconv.Atoi(fs[i])
			return n
		}
		switch fs[0] {
		case "addr":
			fmt.Fprintln(bw, c.Addr)
		case "touch":
			var out []string
			for i := arg(1); i < arg(1)+arg(2); i++ {
				if h, ok := c.Touch(i); ok {
					out = append(out, strconv.FormatUint(h, 16))
				} else {
					out = append(out, "fault")
				}
			}
			fmt.Fprintln(bw, strings.Join(out, " "))
		case "store":
			if c.Store(arg(1), byte(arg(2))) {
				fmt.Fprintln(bw, "ok")
			} else {
				fmt.Fprintln(bw, "fault")
			}
		case "astore":
			bg = make(chan string, 1)
			go func(i int, b byte, ch chan<- string) {
				if c.Store(i, b) {
					ch <- "ok"
				} else {
					ch <- "fault"
				}
			}(arg(1), byte(arg(2)), bg)
			fmt.Fprintln(bw, "started")
		case "poll", "await":
			if bg == nil {
				fmt.Fprintln(bw, "none")
				break
			}
			if fs[0] == "await" {
				ans := <-bg
				bg = nil
				fmt.Fprintln(bw, ans)
				break
			}
			select {
			case ans := <-bg:
				bg = nil
				fmt.Fprintln(bw, ans)
			default:
				fmt.Fprintln(bw, "pending")
			}
		case "sdrop":
			ok, err := dropRequest(conn, c.Addr+uint64(arg(1)*PageSize), uint64(arg(2)*PageSize))
			switch {
			case err != nil:
				fmt.Fprintln(bw, err)
			case ok:
				fmt.Fprintln(bw, "ok")
			default:
				fmt.Fprintln(bw, "refused")
			}
		case "pop":
			fmt.Fprintln(bw, int(c.Populate(arg(1), len(fs) > 2 && fs[2] == "w")))
		case "dontneed", "munmap", "mremap":
			a := uintptr(c.Addr) + uintptr(arg(1)*PageSize)
			n := uintptr(arg(2) * PageSize)
			var e unix.Errno
			switch fs[0] {
			case "dontneed":
				_, _, e = unix.Syscall(unix.SYS_MADVISE, a, n, unix.MADV_DONTNEED)
			case "munmap":
				_, _, e = unix.Syscall(unix.SYS_MUNMAP, a, n, 0)
			case "mremap":
				to := uintptr(c.Addr) + uintptr(arg(3)*PageSize)
				_, _, e = unix.Syscall6(unix.SYS_MREMAP, a, n, n, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, to, 0)
			}
			if e != 0 {
				fmt.Fprintln(bw, int(e))
			} else {
				fmt.Fprintln(bw, "ok")
			}
		case "exit":
			bw.Flush()
			return nil
		default:
			fmt.Fprintln(bw, "unknown command")
		}
		bw.Flush()
	}
	return sc.Err()
}
