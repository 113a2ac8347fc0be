package uffd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
)

// A cooperative client: one that, besides its userfaultfd, hands the server
// one end of a SOCK_SEQPACKET socket pair in the handshake (a second
// SCM_RIGHTS descriptor; Firecracker sends one, and is served as before)
// and answers on it the server's layout changes that only the client's own
// system calls can make: MADV_DONTNEED and mprotect of its memory (Linux
// refuses process_madvise(MADV_DONTNEED) on another process, and has no
// remote mprotect) and UFFDIO_MOVE (refused across processes). The server's end is a Remote, the handler's Memory;
// the client runs ServeMemory on its end.
//
// Wire format, little-endian, one request or answer per packet, one
// request outstanding at a time:
//
//	request (40 bytes): op uint32 (1 zap, 2 protect, 3 move), prot uint32,
//	                    addr uint64, length uint64, seq uint64,
//	                    src uint64 (move: from src to addr)
//	answer  (16 bytes): seq uint64, errno uint64 (0: done)

const (
	memOpZap     = 1
	memOpProtect = 2
	memOpMove    = 3
	memReqSize   = 40
	memAnsSize   = 16
)

// ErrMemoryGone is returned by a Remote's methods once a request timed
// out or the channel failed: the client no longer cooperates.
var ErrMemoryGone = errors.New("uffd: the client's memory channel is gone")

// Remote is the Memory of a cooperative client in another process: each
// Zap and Protect is sent to the client, which does it (MADV_DONTNEED,
// mprotect) and answers; the caller (the handler, inside the space's write
// session) waits for the answer, at most Timeout. On a timeout or a broken
// channel, OnFail is called once (with the reason) and every later call
// fails at once with ErrMemoryGone: the session goes on, and the owner
// drops the client. The handler does not log ErrMemoryGone (OnFail said
// it once).
type Remote struct {
	fd      int
	timeout time.Duration
	onFail  func(error)
	mu      struct {
		sync.Mutex
		seq  uint64 // of the last request sent
		dead bool
	}
}

// NewRemote makes a Remote on fd (the server's end of the client's
// memory channel; the Remote owns it: Close closes it). timeout bounds
// each request's round trip; onFail (may be nil) must not block nor call
// into the space: it runs inside a write session.
func NewRemote(fd int, timeout time.Duration, onFail func(error)) (*Remote, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	if onFail == nil {
		onFail = func(error) {}
	}
	return &Remote{fd: fd, timeout: timeout, onFail: onFail}, nil
}

// Zap asks the client to drop [addr, addr+length) (MADV_DONTNEED).
func (r *Remote) Zap(addr, length uint64) error {
	return r.call(memOpZap, addr, length, 0, 0)
}

// Protect asks the client to mprotect [addr, addr+length).
func (r *Remote) Protect(addr, length uint64, prot vmspace.Prot) error {
	return r.call(memOpProtect, addr, length, prot, 0)
}

// Move asks the client to move its installed pages [src, src+length) to
// dst with UFFDIO_MOVE on its own userfaultfd (Mover).
func (r *Remote) Move(dst, src, length uint64) error {
	return r.call(memOpMove, dst, length, 0, src)
}

// Close closes the channel; the client's ServeMemory returns.
func (r *Remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return nil
	}
	r.mu.dead = true
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

func (r *Remote) call(op uint32, addr, length uint64, prot vmspace.Prot, src uint64) error {
	r.mu.Lock()
	if r.mu.dead {
		r.mu.Unlock()
		return ErrMemoryGone
	}
	r.mu.seq++
	seq := r.mu.seq
	var req [memReqSize]byte
	binary.LittleEndian.PutUint32(req[0:], op)
	binary.LittleEndian.PutUint32(req[4:], uint32(prot))
	binary.LittleEndian.PutUint64(req[8:], addr)
	binary.LittleEndian.PutUint64(req[16:], length)
	binary.LittleEndian.PutUint64(req[24:], seq)
	binary.LittleEndian.PutUint64(req[32:], src)
	errno, err := r.roundTrip(req[:], seq, time.Now().Add(r.timeout))
	if err != nil {
		r.mu.dead = true
	}
	r.mu.Unlock()
	if err != nil {
		r.onFail(err)
		return fmt.Errorf("%w: %v", ErrMemoryGone, err)
	}
	if errno != 0 {
		return unix.Errno(errno)
	}
	return nil
}

// roundTrip sends req and waits for the answer to seq until deadline.
// Precondition: r.mu held.
func (r *Remote) roundTrip(req []byte, seq uint64, deadline time.Time) (uint64, error) {
	for {
		_, err := unix.Write(r.fd, req)
		if err == nil {
			break
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			return 0, fmt.Errorf("memory request: %w", err)
		}
		if err := r.wait(unix.POLLOUT, deadline); err != nil {
			return 0, err
		}
	}
	var ans [memAnsSize + 1]byte
	for {
		n, err := unix.Read(r.fd, ans[:])
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			if err := r.wait(unix.POLLIN, deadline); err != nil {
				return 0, err
			}
			continue
		case err != nil:
			return 0, fmt.Errorf("memory answer: %w", err)
		case n == 0:
			return 0, errors.New("memory channel closed by the client")
		case n != memAnsSize:
			return 0, fmt.Errorf("memory answer of %d bytes, want %d", n, memAnsSize)
		}
		if got := binary.LittleEndian.Uint64(ans[0:]); got != seq {
			return 0, fmt.Errorf("memory answer for request %d, want %d", got, seq)
		}
		return binary.LittleEndian.Uint64(ans[8:]), nil
	}
}

// wait polls r.fd for ev until deadline.
func (r *Remote) wait(ev int16, deadline time.Time) error {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("memory request unanswered after %v", r.timeout)
		}
		pfd := []unix.PollFd{{Fd: int32(r.fd), Events: ev}}
		_, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if err != nil && err != unix.EINTR {
			return err
		}
		if pfd[0].Revents&(ev|unix.POLLHUP|unix.POLLERR) != 0 {
			return nil
		}
	}
}

// ServeMemory is the client's side of the memory channel: it answers the
// server's requests on fd (the client's end of the pair it sent in the
// handshake) by doing them on this process's memory (moves with
// UFFDIO_MOVE on uffd, the userfaultfd it sent), until the server closes
// the channel (nil) or it fails. Run it on a goroutine of its own
// that takes no lock the process's faulting threads may hold: the server
// waits for its answer inside a write session, and faults on the range
// wait for that session.
func ServeMemory(fd, uffd int) error {
	var req [memReqSize + 1]byte
	for {
		n, err := unix.Read(fd, req[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n != memReqSize {
			return fmt.Errorf("memory request of %d bytes, want %d", n, memReqSize)
		}
		op := binary.LittleEndian.Uint32(req[0:])
		prot := binary.LittleEndian.Uint32(req[4:])
		addr := binary.LittleEndian.Uint64(req[8:])
		length := binary.LittleEndian.Uint64(req[16:])
		var e unix.Errno
		switch op {
		case memOpZap:
			_, _, e = unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), unix.MADV_DONTNEED)
		case memOpProtect:
			_, _, e = unix.Syscall(unix.SYS_MPROTECT, uintptr(addr), uintptr(length), uintptr(prot))
		case memOpMove:
			src := binary.LittleEndian.Uint64(req[32:])
			if _, err := uffdMove(uffd, uintptr(addr), uintptr(src), length); err != nil {
				e, _ = err.(unix.Errno)
				if e == 0 {
					e = unix.EIO
				}
			}
		default:
			e = unix.EINVAL
		}
		var ans [memAnsSize]byte
		copy(ans[0:8], req[24:32])
		binary.LittleEndian.PutUint64(ans[8:], uint64(e))
		for {
			_, err = unix.Write(fd, ans[:])
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return err
		}
	}
}

// MemoryPair makes the socket pair of a cooperative client's memory
// channel: send theirs in the handshake (WriteHandshakeMemory, then close
// it here) and run ServeMemory on ours.
func MemoryPair() (ours, theirs int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	return fds[0], fds[1], nil
}
