package uffd

import (
	"errors"
	"io"

	"github.com/vmspace/vmspace"
)

// ErrUnsupported is returned by New where userfaultfd does not exist (any
// OS but Linux).
var ErrUnsupported = errors.New("uffd: userfaultfd is Linux only")

// Region is a window: the memory [Host, Host+Size) of the process that
// created the userfaultfd, shown onto the space's addresses [Base,
// Base+Size): host address h is space address Base+(h-Host).
type Region struct {
	Host, Size, Base uint64
	// Source holds the window's initial contents, page i at
	// SourceOff+i*PageSize (a memory image). nil: zeros. A page that is
	// dropped (zapped, unmapped) forgets its Source and reads zeros.
	Source    io.ReaderAt
	SourceOff int64
}

// Memory applies the space's own layout changes to the window's real
// memory. The handler calls it inside the space's write session, with the
// areas concerned write-locked, so no fault is served on the range
// meanwhile (see mm.Observer). Addresses are host addresses.
type Memory interface {
	// Zap drops the pages of [addr, addr+length) (MADV_DONTNEED); the
	// next access faults through the userfaultfd again.
	Zap(addr, length uint64) error
	// Protect sets the host protection of [addr, addr+length), so that
	// the kernel itself raises SIGSEGV (SEGV_ACCERR) on a denied access
	// to a page that is present.
	Protect(addr, length uint64, prot vmspace.Prot) error
}

// A Mover is a Memory that also moves installed pages: Move moves the
// page(s) of [src, src+length) to dst (UFFDIO_MOVE, done by the process
// whose memory it is, as the kernel refuses cross-process moves), with
// UFFDIO_MOVE's errors (ENOENT: src not installed, EEXIST: dst is).
type Mover interface {
	Move(dst, src, length uint64) error
}

// Config configures New.
type Config struct {
	Regions []Region
	// Memory applies the space's own changes to the real memory; Local
	// when the window is in this process, a Remote for a cooperative
	// client in another process. nil: the memory is in another process
	// that changes it itself (its MADV_DONTNEED, munmap and mremap reach
	// the space as events); then the space's own Unmap and Advise reach
	// only pages not yet installed, and Protect reaches installed pages
	// only as write protection, where the client registered WP mode.
	Memory Memory
	// Workers is the number of goroutines serving faults (default 1).
	Workers int
	// Pid is the process whose memory the windows are (0: this process),
	// for ReadAt and WriteAt. Space.ReadAt and Space.WriteAt go to the
	// windows' memory only where the handler knows that process: Pid
	// set, or Memory Local; otherwise (Pid 0, another Memory or none)
	// they reach the space's pre-install store alone, as without a
	// handler.
	Pid int
	// Pidfd, if > 0, is a pidfd of the faulting process: Serve returns
	// ErrClientGone when it exits. The handler owns it (Close closes it).
	Pidfd int
	// MeasureCPU locks the handler's goroutines to their threads and
	// counts those threads' CPU time in Stats.CPUNs (updated after each
	// batch of messages and whenever a worker runs out of work).
	MeasureCPU bool
	// BeforeFill, if set, runs in the worker before each fill, with the
	// host address and the area read-locked: a hook for tests (a client
	// killed in the middle of a fault) and tracing.
	BeforeFill func(addr uint64)
	// Logf receives one line per anomaly (nil: discarded).
	Logf func(format string, args ...any)
}
