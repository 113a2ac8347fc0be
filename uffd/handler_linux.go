package uffd

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/internal/mm"
	"github.com/vmspace/vmspace/internal/mmaccess"
)

const pageSize = vmspace.PageSize

// Handler serves the faults of one userfaultfd from one Space. See the
// package doc for the contract.
//
// Goroutines: one reader (reads every message as soon as it arrives, so
// that the kernel never waits on an unread event), one applier (mirrors
// the client's REMOVE/UNMAP/REMAP into the space, in order) and Workers
// fault servers.
type Handler struct {
	sp      *vmspace.Space
	ms      *mm.Space
	fd      int
	regions []*window // sorted by host address, not overlapping; immutable
	mem     Memory
	logf    func(format string, args ...any)
	pidfd   int
	pid     int
	workers int
	// spaceAccess: Space.ReadAt/WriteAt go to the windows' memory
	// (observer.AccessAt); immutable.
	spaceAccess bool

	beforeFill func(addr uint64)
	// injectEAGAIN is Config.InjectEAGAIN (tests and torture).
	injectEAGAIN func(addr uint64) bool
	measureCPU   bool
	// cpu holds each goroutine's thread CPU time so far (MeasureCPU):
	// slot 0 the reader, 1 the applier, 2.. the workers.
	cpu []atomic.Int64

	stopR, stopW int // a pipe: written by Close to wake the reader

	// q is the queue between the reader and the others.
	q struct {
		sync.Mutex
		cond    sync.Cond
		faults  []fault
		events  []msg
		read    uint64 // events read (and queued) so far
		applied uint64 // events applied to the space so far
		stopped bool
		err     error // why the reader stopped, if not Close
	}

	// self lists the host ranges the handler itself is zapping
	// (Memory.Zap inside a write session), so that the REMOVE events
	// they raise are not mirrored back into the space.
	self struct {
		sync.Mutex
		ranges [][2]uint64
	}
	// readMu is held for writing by the reader between read(2) and
	// sorting what it read (a REMOVE mirrored at once included), and for
	// reading by every fill from its check that no event was queued since
	// its fault was read to its ioctl (fillLocked): an event raised
	// meanwhile is still unread, so the kernel refuses the fill (EAGAIN,
	// mmap_changing) instead of letting it land after the change.
	readMu sync.RWMutex
	// readSeq is odd while the reader holds readMu for writing (one
	// batch: read(2) and sorting), so that waitReaderBatch costs one
	// atomic load when no batch is in progress (the common case for
	// Order, which runs before every write session of the space).
	readSeq atomic.Uint64
	// applierTid is the applier's thread (it is locked to it): Order
	// returns at once for the applier's own write sessions.
	applierTid atomic.Int64
	// unapplied is q.read - q.applied, written under q's mutex with
	// them, read without it by Order's fast path (a mutex there would
	// be taken by every write session of the space: the bench's churn
	// makes 190,000 a second).
	unapplied atomic.Int64

	// mirroring is the host range of the client event being mirrored:
	// the client's kernel already changed that memory, so the observer
	// leaves it alone (it only updates the handler's own state). tid is
	// the applier's thread: only the applier's own write sessions are
	// the mirror; another session over the range at the same time (the
	// space's user, from another goroutine) must still reach the memory.
	mirroring struct {
		sync.Mutex
		lo, hi uint64
		tid    int
	}
	// mirrorActive is set by the applier around each mirror, so that
	// the observer's check in every other write session (isMirrored)
	// takes no mutex while none runs: those sessions are the churn of
	// a busy space, and the mutex's line sits beside the reader's.
	mirrorActive atomic.Bool

	// overrides maps host page addresses to the image pages they hold
	// after a move (observer_linux.go); written at commit, read under
	// area read locks. noverrides counts them, for a fast empty check.
	overrides  sync.Map
	noverrides atomic.Int64

	// crossMoveLogged: movePage logged that a move in another process
	// needs the client; written at commit of a write session only
	// (serialized by the space lock).
	crossMoveLogged bool

	stats     counters
	started   atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup
	served    chan struct{}
}

// fault is a page fault read from the descriptor.
type fault struct {
	addr  uint64 // host address of the page
	write bool
	wp    bool   // a write to a write-protected present page (wp_linux.go)
	after uint64 // events read before it: they are applied before it is served
}

// window is one Region.
type window struct {
	Region
	// src has a bit per page: set while the page's contents are the
	// Source's (never dropped since the handler started). Cleared by
	// the observer in a write session (areas write-locked), read by
	// fault servers under the area read lock.
	src pageBits
	// present has a bit per page: set where the client's memory may hold
	// the page (pagebits_linux.go).
	present pageBits
	// wp: the client registered the window in write-protect mode too
	// (probed by New; immutable). wpUsed: the handler has
	// write-protected a page of it at least once (set in a write
	// session or under an area lock, read by the same), so that making
	// a range writable again needs an ioctl only then.
	wp     bool
	wpUsed atomic.Bool
}

func (w *window) srcBit(pg uint64) bool     { return w.src.get(pg) }
func (w *window) clearSrc(lo, hi uint64)    { w.src.clearRange(lo, hi) }
func (w *window) setSrc(pg uint64, on bool) { w.src.set(pg, on) }
func (w *window) pages(lo, hi uint64) (uint64, uint64) {
	return (lo - w.Host) / pageSize, (hi - w.Host) / pageSize
}

// gone clears the present bits of host range [lo, hi): the client's
// memory certainly holds no page there now.
func (w *window) gone(lo, hi uint64) { w.present.clearRange(w.pages(lo, hi)) }

// mayHold reports whether the client's memory may hold a page in host
// range [lo, hi).
func (w *window) mayHold(lo, hi uint64) bool { return w.present.anyInRange(w.pages(lo, hi)) }

// counters are the handler's statistics.
type counters struct {
	faults, copies, zeropages, poisons, eagain, eexist, gone atomic.Uint64
	removes, unmaps, remaps, selfEvents                      atomic.Uint64
	wpFaults, wpBlocked                                      atomic.Uint64
	inlineFaults, inlineRemoves, wpRanges                    atomic.Uint64
}

// Stats are a handler's counters.
type Stats struct {
	Faults     uint64 // page faults read
	Copies     uint64 // pages installed with UFFDIO_COPY
	Zeropages  uint64 // pages installed with UFFDIO_ZEROPAGE
	Poisons    uint64 // denied accesses answered with UFFDIO_POISON (SIGBUS)
	EAGAIN     uint64 // fills retried because an event was unread
	EEXIST     uint64 // fills that found the page already there
	Gone       uint64 // faults whose address went away before the fill (ENOENT, ESRCH)
	Removes    uint64 // REMOVE events mirrored
	Unmaps     uint64 // UNMAP events mirrored
	Remaps     uint64 // REMAP events mirrored
	SelfEvents uint64 // REMOVE events raised by the handler's own zaps (not mirrored)
	CPUNs      uint64 // CPU time of the handler's threads (Config.MeasureCPU)
	WPFaults   uint64 // write-protect faults resolved (the area allows the write)
	WPBlocked  uint64 // write-protect faults left waiting (the area denies the write)
	// InlineFaults are the faults the reader served itself (the rest went
	// to the workers: a thread hand-off each); InlineRemoves the REMOVE
	// events it mirrored at once under an area read lock (the rest went to
	// the applier: a write session each, behind the other sessions).
	InlineFaults, InlineRemoves uint64
	// WPRanges counts the ranges the space's write sessions
	// write-protected in the client's memory (UFFDIO_WRITEPROTECT; a
	// window without a Memory, in WP mode): only ranges where the
	// client may hold a page (pagebits_linux.go).
	WPRanges uint64
}

// Stats returns the counters.
func (h *Handler) Stats() Stats {
	c := &h.stats
	return Stats{c.faults.Load(), c.copies.Load(), c.zeropages.Load(), c.poisons.Load(),
		c.eagain.Load(), c.eexist.Load(), c.gone.Load(), c.removes.Load(), c.unmaps.Load(),
		c.remaps.Load(), c.selfEvents.Load(), h.cpuNs(), c.wpFaults.Load(), c.wpBlocked.Load(),
		c.inlineFaults.Load(), c.inlineRemoves.Load(), c.wpRanges.Load()}
}

// ErrClientGone is returned by Serve when the faulting process exited
// (Config.Pidfd became readable) or the descriptor reported an error.
var ErrClientGone = errors.New("uffd: client gone")

// New attaches the userfaultfd fd to space over cfg.Regions. The handler
// takes ownership of fd (Close closes it). The fd must have been through
// UFFDIO_API with the REMOVE, UNMAP and REMAP events enabled if the client
// changes its own layout, and registered (MISSING mode) over the regions.
// New installs the handler as the space's Observer; a space serves at most
// one handler.
func New(space *vmspace.Space, fd int, cfg Config) (*Handler, error) {
	if !isUffd(fd) {
		return nil, fmt.Errorf("uffd: descriptor %d is not a userfaultfd: %w", fd, unix.EINVAL)
	}
	rs, err := checkRegions(cfg.Regions)
	if err != nil {
		return nil, err
	}
	h := &Handler{sp: space, ms: mmaccess.Unwrap(space), fd: fd, mem: cfg.Memory,
		logf: cfg.Logf, pidfd: -1, beforeFill: cfg.BeforeFill, injectEAGAIN: cfg.InjectEAGAIN, measureCPU: cfg.MeasureCPU, pid: cfg.Pid, workers: cfg.Workers, served: make(chan struct{})}
	if cfg.Pidfd > 0 {
		h.pidfd = cfg.Pidfd
	}
	if h.workers <= 0 {
		h.workers = 1
	}
	_, local := cfg.Memory.(Local)
	h.spaceAccess = cfg.Pid != 0 || local
	h.cpu = make([]atomic.Int64, 2+h.workers)
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	for _, r := range rs {
		w := &window{Region: r, src: newPageBits(r.Size/pageSize, r.Source != nil)}
		w.present = newPageBits(r.Size/pageSize, false)
		if _, local := cfg.Memory.(Local); (cfg.Pid == 0 && !local) || !readPresent(w.present, cfg.Pid, r.Host, r.Size) {
			// Whose memory it is, or what it holds, is unknown.
			w.present = newPageBits(r.Size/pageSize, true)
		}
		w.wp = probeWP(fd, w)
		h.regions = append(h.regions, w)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	h.stopR, h.stopW = p[0], p[1]
	h.q.cond.L = &h.q.Mutex
	if err := h.ms.SetObserver((*observer)(h)); err != nil {
		unix.Close(h.stopR)
		unix.Close(h.stopW)
		return nil, fmt.Errorf("uffd: space already served by a handler: %w", err)
	}
	return h, nil
}

// checkRegions sorts a copy of rs and refuses empty, unaligned or
// overlapping regions (in host or in space addresses).
func checkRegions(in []Region) ([]Region, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("uffd: no regions: %w", unix.EINVAL)
	}
	rs := append([]Region(nil), in...)
	for i := 1; i < len(rs); i++ { // insertion sort: a handful of regions
		for j := i; j > 0 && rs[j].Host < rs[j-1].Host; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	for i, r := range rs {
		if r.Size == 0 || (r.Host|r.Size|r.Base)%pageSize != 0 || r.Host+r.Size < r.Host || r.Base+r.Size < r.Base {
			return nil, fmt.Errorf("uffd: region %d [%#x, +%#x) at space %#x: empty, unaligned or wrapping: %w", i, r.Host, r.Size, r.Base, unix.EINVAL)
		}
		if i > 0 && rs[i-1].Host+rs[i-1].Size > r.Host {
			return nil, fmt.Errorf("uffd: regions [%#x, +%#x) and [%#x, +%#x) overlap: %w", rs[i-1].Host, rs[i-1].Size, r.Host, r.Size, unix.EINVAL)
		}
		for _, o := range rs[:i] {
			if o.Base < r.Base+r.Size && r.Base < o.Base+o.Size {
				return nil, fmt.Errorf("uffd: regions at space %#x and %#x overlap: %w", o.Base, r.Base, unix.EINVAL)
			}
		}
	}
	return rs, nil
}

// windowAt returns the region holding host address a.
func (h *Handler) windowAt(a uint64) *window {
	for _, w := range h.regions {
		if a >= w.Host && a < w.Host+w.Size {
			return w
		}
	}
	return nil
}

// Serve serves faults and events until Close (it then returns nil), the
// client exits or the descriptor fails (ErrClientGone). Call it once.
func (h *Handler) Serve() error {
	if h.started.Swap(true) {
		return errors.New("uffd: Serve called twice")
	}
	defer close(h.served)
	h.wg.Add(1 + h.workers)
	go h.applier()
	for i := range h.workers {
		go h.worker(2 + i)
	}
	err := h.reader()
	h.q.Lock()
	h.q.stopped = true
	h.q.cond.Broadcast()
	h.q.Unlock()
	h.wg.Wait()
	return err
}

// Close stops Serve, waits for it, detaches the handler from the space
// and closes the descriptor. Threads still waiting on faults are then
// woken by the kernel, which resolves their faults as if the range were
// not registered (zero-filled anonymous pages) unless the client asked
// for UFFD_FEATURE_SIGBUS. Close is idempotent.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		unix.Write(h.stopW, []byte{0})
		h.q.Lock()
		h.q.stopped = true
		h.q.cond.Broadcast()
		h.q.Unlock()
		if h.started.Swap(true) {
			<-h.served // Serve ends on the stop byte
		} else {
			close(h.served) // Serve never ran, and now never will
		}
		h.ms.SetObserver(nil)
		h.liftWP()
		h.poisonMissing()
		unix.Close(h.fd)
		if h.pidfd >= 0 {
			unix.Close(h.pidfd)
		}
		unix.Close(h.stopR)
		unix.Close(h.stopW)
	})
	return nil
}

// poisonMissing poisons every page of the windows not installed yet, so
// that threads waiting in faults, and every later access to such a page,
// get SIGBUS instead of waiting for a handler that is gone (the client
// keeps its own copy of the descriptor, so closing ours wakes nobody).
// It stops at the first ESRCH (the client's memory is gone).
func (h *Handler) poisonMissing() {
	for _, w := range h.regions {
		for a := w.Host; a < w.Host+w.Size; a += pageSize {
			if _, err := uffdPoison(h.fd, uintptr(a), pageSize); err == unix.ESRCH || err == unix.EINVAL {
				return // gone, or the client did not enable UFFD_FEATURE_POISON
			}
		}
	}
}

// ReadAt reads len(p) bytes at space address addr of a window from the
// window's memory itself (process_vm_readv), after checking each page's
// access against its area as Space.ReadAt does. A page not yet installed
// is faulted in through this handler on the way (the kernel's remote
// access takes the fault), so what it returns is what the client's own
// load would see. It must not be called from a Memory or while holding an
// area lock of the space.
func (h *Handler) ReadAt(p []byte, addr uint64) (int, error) {
	return h.access(p, addr, false)
}

// WriteAt writes p at space address addr of a window into the window's
// memory (process_vm_writev), checking write access like Space.WriteAt.
func (h *Handler) WriteAt(p []byte, addr uint64) (int, error) {
	return h.access(p, addr, true)
}

func (h *Handler) access(p []byte, addr uint64, write bool) (int, error) {
	pid := h.pid
	if pid == 0 {
		pid = unix.Getpid()
	}
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		chunk := min(uint64(len(p)-n), pageSize-a%pageSize)
		w := h.spaceWindow(a)
		if w == nil {
			return n, &vmspace.FaultError{Addr: a, Code: vmspace.MapErr}
		}
		hd, err := h.ms.LockArea(a)
		if err != nil {
			return n, err
		}
		acc := vmspace.Read
		if write {
			acc = vmspace.Write
		}
		ok := hd.Permits(acc)
		hd.Unlock()
		if !ok {
			return n, &vmspace.FaultError{Addr: a, Access: acc, Code: vmspace.AccErr}
		}
		local := []unix.Iovec{{Base: &p[n], Len: chunk}}
		remote := []unix.RemoteIovec{{Base: uintptr(w.Host + a - w.Base), Len: int(chunk)}}
		var got int
		if write {
			got, err = unix.ProcessVMWritev(pid, local, remote, 0)
		} else {
			got, err = unix.ProcessVMReadv(pid, local, remote, 0)
		}
		if err != nil {
			return n, err
		}
		n += got
		if got == 0 {
			return n, unix.EFAULT
		}
	}
	return n, nil
}

// Sync waits until every event read so far has been mirrored into the
// space (or the handler stops). Every write session of the space already
// does this first (Order), so a caller needs Sync only to wait for the
// mirror itself (for instance before reading the space's layout).
func (h *Handler) Sync() {
	// The client's munmap or mremap returns once the kernel handed its
	// event to read(2), which may be before the reader has queued it:
	// wait for the reader's batch first, or the event would be mirrored
	// after what the caller does next.
	h.waitReaderBatch()
	h.q.Lock()
	defer h.q.Unlock()
	read := h.q.read
	for !h.q.stopped && h.q.applied < read {
		h.q.cond.Wait()
	}
}

// waitReaderBatch returns once the reader's batch in progress, if any, is
// read and sorted: an event read(2) has returned by now is then counted
// in q.read (or was mirrored inline, or recognised as the handler's own).
// A batch that started after the call began cannot hold an event whose
// syscall had returned before it.
//
// It waits by watching readSeq, not by taking readMu: a writer waiting on
// readMu holds off every fill's read lock behind it, and the reader, which
// fills inline, would block on it and hand its thread's P off (a locked
// thread) for each such wait. Measured with `vmspace bench --engines
// uffd-per-area --churn none,unrelated` (every layout change of the churn
// runs Order, and finds a batch in progress often): with readMu the
// faults kept 0.29-0.32 of their idle rate at 32 µs of handler CPU each,
// against 19 µs idle. A batch never blocks (a read(2) of what is there,
// and sorting it), so the wait is short.
func (h *Handler) waitReaderBatch() {
	s := h.readSeq.Load()
	if s&1 == 0 {
		return
	}
	for h.readSeq.Load() == s {
		yield()
	}
}

// Order is the handler as the space's mm.Orderer: every write session of
// the space other than the applier's own mirrors starts only after the
// client's events read so far are mirrored, so that it works on a layout
// that includes them. Without it, a session over a range the client has
// just moved or unmapped would send its Memory calls to memory that has
// changed since, and the late mirror would undo the session's work (a
// Map of a range the client unmapped and mapped again, removed by the
// mirror of the unmap: what Sync used to be called for by hand).
func (o *observer) Order() {
	h := (*Handler)(o)
	if h.readSeq.Load()&1 == 0 && h.unapplied.Load() == 0 {
		return
	}
	// A batch in progress is the common reason to be here: wait for it
	// and look again before anything that takes the reader's mutex (q),
	// which every fault takes three times. (Against going to Sync at
	// once, the bench's churn showed no difference above this 2-core
	// machine's noise; kept for the mutex it leaves alone.)
	h.waitReaderBatch()
	if h.unapplied.Load() == 0 {
		return
	}
	if int64(unix.Gettid()) == h.applierTid.Load() {
		return // a mirror: the events before it are applied already
	}
	h.Sync()
}

// Wait waits for Serve to return (after Close, or when the client is gone).
func (h *Handler) Wait() { <-h.served }

// reader reads every message as soon as the kernel has one: events go to
// the applier, faults to the workers. It never takes a space lock, so a
// write session whose Memory.Zap raises a REMOVE event (and waits until
// it is read) cannot wait on it.
func (h *Handler) reader() error {
	if h.measureCPU {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	pfd := []unix.PollFd{{Fd: int32(h.fd), Events: unix.POLLIN}, {Fd: int32(h.stopR), Events: unix.POLLIN}, {Fd: -1}}
	if h.pidfd >= 0 {
		pfd[2] = unix.PollFd{Fd: int32(h.pidfd), Events: unix.POLLIN}
	}
	var buf [64 * msgSize]byte
	ibuf := alignedPage()
	defer unix.Munmap(ibuf)
	var hd mm.Handle
	for {
		for i := range pfd {
			pfd[i].Revents = 0
		}
		if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
			return err
		}
		if pfd[1].Revents != 0 {
			return nil
		}
		// readMu and the odd readSeq span the read and the sorting of
		// what was read: a Memory.Zap that raised a REMOVE event waits
		// for the batch after its madvise returned, to know the event
		// was seen as its own (waitReaderBatch), and a fill cannot run
		// between an event's read and its sorting.
		h.readMu.Lock()
		h.readSeq.Add(1)
		n, err := unix.Read(h.fd, buf[:])
		if err == nil && n > 0 {
			h.enqueue(buf[:n])
		}
		h.readSeq.Add(1)
		h.readMu.Unlock()
		h.serveInline(ibuf, &hd)
		h.noteCPU(0)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
		case err != nil:
			h.logf("uffd: read: %v", err)
			return fmt.Errorf("%w: read: %v", ErrClientGone, err)
		case n == 0:
			return ErrClientGone
		}
		if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 && err == unix.EAGAIN {
			return fmt.Errorf("%w: descriptor hung up", ErrClientGone)
		}
		if pfd[2].Revents != 0 && err == unix.EAGAIN {
			return fmt.Errorf("%w: process exited", ErrClientGone)
		}
	}
}

func (h *Handler) enqueue(p []byte) {
	h.q.Lock()
	defer h.q.Unlock()
	events := false
	defer func() {
		if events {
			h.q.cond.Broadcast()
		}
	}()
	for ; len(p) >= msgSize; p = p[msgSize:] {
		m := decodeMsg(p)
		switch m.event {
		case eventPagefault:
			h.stats.faults.Add(1)
			h.q.faults = append(h.q.faults, fault{addr: m.b &^ (pageSize - 1), write: m.a&pagefaultWrite != 0, wp: m.a&pagefaultWP != 0, after: h.q.read})
		case eventRemove:
			if h.isSelf(m.a, m.b) {
				h.stats.selfEvents.Add(1)
				continue
			}
			if h.q.read == h.q.applied && h.mirrorRemoveInline(m.a, m.b) {
				h.stats.removes.Add(1)
				h.stats.inlineRemoves.Add(1)
				continue
			}
			fallthrough
		case eventUnmap, eventRemap:
			h.q.events = append(h.q.events, m)
			h.q.read++
			h.unapplied.Add(1)
			events = true
		default:
			h.logf("uffd: unexpected event %#x ignored", m.event)
		}
	}
}

// mirrorRemoveInline mirrors a REMOVE event at once, in the reader, when
// its range lies in one window and one area whose lock can be taken
// without waiting: the space's own pages there are dropped under the area
// read lock (the client's kernel already dropped the real ones, so the
// observer has nothing to do) and the image forgets them. It reports
// false, having done nothing, when the event must go to the applier.
// Precondition: no event read before it is unapplied (events stay in
// order).
func (h *Handler) mirrorRemoveInline(start, end uint64) bool {
	w := h.windowAt(start)
	if w == nil || end > w.Host+w.Size || end <= start {
		return false
	}
	sa, se := w.Base+start-w.Host, w.Base+end-w.Host
	var hd mm.Handle
	if !h.ms.TryLockArea(sa, &hd) {
		return false
	}
	defer hd.Unlock()
	if se > hd.End() {
		return false
	}
	hd.DropPages(sa, se)
	w.clearSrc((start-w.Host)/pageSize, (end-w.Host)/pageSize)
	w.gone(start, end)
	h.dropOverrides(start, end)
	return true
}

// serveInline is the reader's fast path: it serves the faults at the head
// of the queue itself while no event read before them is unapplied and
// their areas can be locked without waiting (TryLockArea), which saves
// two thread hand-offs per fault. Whatever it cannot serve so is left to
// the workers, woken here. The reader never waits on a space lock.
func (h *Handler) serveInline(buf []byte, hd *mm.Handle) {
	for {
		h.q.Lock()
		if len(h.q.faults) == 0 || h.q.stopped {
			h.q.Unlock()
			return
		}
		f := h.q.faults[0]
		if f.after > h.q.applied {
			h.q.cond.Broadcast()
			h.q.Unlock()
			return
		}
		h.q.faults = h.q.faults[1:]
		h.q.Unlock()
		done, retry := h.serveFaultWith(f, buf, hd)
		if done && !retry {
			h.stats.inlineFaults.Add(1)
			continue
		}
		if retry {
			h.stats.eagain.Add(1)
		}
		h.q.Lock()
		h.q.faults = append(h.q.faults, fault{})
		copy(h.q.faults[1:], h.q.faults)
		h.q.faults[0] = f
		h.q.cond.Broadcast()
		h.q.Unlock()
		return
	}
}

// isMirrored reports whether host range [lo, hi) lies in the client
// event being mirrored and the caller is the write session mirroring it
// (the applier's thread; sessions run on their caller's goroutine).
func (h *Handler) isMirrored(lo, hi uint64) bool {
	if !h.mirrorActive.Load() {
		return false
	}
	h.mirroring.Lock()
	defer h.mirroring.Unlock()
	return lo >= h.mirroring.lo && hi <= h.mirroring.hi && h.mirroring.tid == unix.Gettid()
}

// isSelf reports whether [start, end) lies in a range the handler is
// zapping itself.
func (h *Handler) isSelf(start, end uint64) bool {
	h.self.Lock()
	defer h.self.Unlock()
	for _, r := range h.self.ranges {
		if start >= r[0] && end <= r[1] {
			return true
		}
	}
	return false
}

// applier mirrors the client's own layout changes into the space, in the
// order the kernel reported them.
func (h *Handler) applier() {
	defer h.wg.Done()
	// Locked, so that its thread id names its write sessions (mirroring,
	// Order).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h.applierTid.Store(int64(unix.Gettid()))
	for {
		h.noteCPU(1)
		h.q.Lock()
		for len(h.q.events) == 0 && !h.q.stopped {
			h.q.cond.Wait()
		}
		if h.q.stopped {
			h.q.Unlock()
			return
		}
		m := h.q.events[0]
		h.q.events = h.q.events[1:]
		h.q.Unlock()
		if testBeforeMirror != nil {
			testBeforeMirror()
		}
		h.mirror(m)
		h.q.Lock()
		h.q.applied++
		h.unapplied.Add(-1)
		h.q.cond.Broadcast()
		h.q.Unlock()
	}
}

// mirror applies one event to the space.
func (h *Handler) mirror(m msg) {
	lo, hi := m.a, m.b
	if m.event == eventRemap {
		lo, hi = min(m.a, m.b), max(m.a, m.b)+m.c
	}
	h.mirroring.Lock()
	h.mirroring.lo, h.mirroring.hi, h.mirroring.tid = lo, hi, unix.Gettid()
	h.mirroring.Unlock()
	h.mirrorActive.Store(true)
	defer func() {
		h.mirrorActive.Store(false)
		h.mirroring.Lock()
		h.mirroring.lo, h.mirroring.hi = 0, 0
		h.mirroring.Unlock()
	}()
	switch m.event {
	case eventRemove: // MADV_DONTNEED/REMOVE by the client: the pages are gone
		h.stats.removes.Add(1)
		h.eachWindow(m.a, m.b, func(w *window, lo, hi uint64) {
			if err := h.sp.Advise(w.Base+lo-w.Host, hi-lo, vmspace.AdviseDontNeed); err != nil && !errors.Is(err, unix.ENOMEM) {
				h.logf("uffd: mirror REMOVE [%#x, %#x): %v", lo, hi, err)
			}
			w.clearSrc((lo-w.Host)/pageSize, (hi-w.Host)/pageSize) // also where no area was
			w.gone(lo, hi)
		})
	case eventUnmap: // munmap, or mmap/mremap over the range
		h.stats.unmaps.Add(1)
		h.eachWindow(m.a, m.b, func(w *window, lo, hi uint64) {
			if err := h.sp.Unmap(w.Base+lo-w.Host, hi-lo); err != nil {
				h.logf("uffd: mirror UNMAP [%#x, %#x): %v", lo, hi, err)
			}
			w.clearSrc((lo-w.Host)/pageSize, (hi-w.Host)/pageSize)
			w.gone(lo, hi)
		})
	case eventRemap: // mremap: from m.a to m.b, m.c bytes
		h.stats.remaps.Add(1)
		from, to, n := m.a, m.b, m.c
		fw, tw := h.windowAt(from), h.windowAt(to)
		if fw != nil && tw != nil && from+n <= fw.Host+fw.Size && to+n <= tw.Host+tw.Size {
			sf, st := fw.Base+from-fw.Host, tw.Base+to-tw.Host
			if _, err := h.sp.Remap(sf, n, n, vmspace.RemapMayMove|vmspace.RemapFixed, st); err != nil {
				h.logf("uffd: mirror REMAP %#x -> %#x (+%#x): %v", from, to, n, err)
			}
			// The client's pages moved: so do their present bits.
			for off := uint64(0); off < n; off += pageSize {
				fpg, tpg := (from+off-fw.Host)/pageSize, (to+off-tw.Host)/pageSize
				tw.present.set(tpg, fw.present.get(fpg))
				fw.present.set(fpg, false)
			}
			return
		}
		// Moved out of (or within from outside) the windows: what left
		// a window is unmapped there; what arrived from outside is
		// not served (no area), as its pages are the kernel's.
		h.eachWindow(from, from+n, func(w *window, lo, hi uint64) {
			h.sp.Unmap(w.Base+lo-w.Host, hi-lo)
			w.clearSrc((lo-w.Host)/pageSize, (hi-w.Host)/pageSize)
			w.gone(lo, hi)
		})
	}
}

// eachWindow calls fn for every part [lo, hi) of host range [start, end)
// that lies in a window.
func (h *Handler) eachWindow(start, end uint64, fn func(w *window, lo, hi uint64)) {
	for _, w := range h.regions {
		lo, hi := max(start, w.Host), min(end, w.Host+w.Size)
		if lo < hi {
			fn(w, lo, hi)
		}
	}
}

// worker serves faults.
func (h *Handler) worker(slot int) {
	defer h.wg.Done()
	if h.measureCPU {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	buf := alignedPage()
	defer unix.Munmap(buf)
	for {
		h.q.Lock()
		if len(h.q.faults) == 0 {
			h.q.Unlock()
			h.noteCPU(slot)
			h.q.Lock()
		}
		for !h.q.stopped && (len(h.q.faults) == 0 || h.q.applied < h.q.faults[0].after) {
			h.q.cond.Wait()
		}
		if h.q.stopped {
			h.q.Unlock()
			return
		}
		f := h.q.faults[0]
		h.q.faults = h.q.faults[1:]
		h.q.Unlock()
		for h.serveFault(f, buf) {
			// EAGAIN: an event is unread or being applied. Let the
			// reader and applier catch up first.
			h.stats.eagain.Add(1)
			h.q.Lock()
			read := h.q.read
			for !h.q.stopped && h.q.applied < read {
				h.q.cond.Wait()
			}
			stopped := h.q.stopped
			h.q.Unlock()
			if stopped {
				return
			}
			yield()
		}
	}
}

// serveFault serves one fault; it reports true if the fill must be retried
// (EAGAIN).
func (h *Handler) serveFault(f fault, buf []byte) (retry bool) {
	_, retry = h.serveFaultWith(f, buf, nil)
	return retry
}

// serveFaultWith serves one fault. With hd nil it may wait for the area
// lock; with hd set it only tries (TryLockArea into *hd) and reports
// done=false if it would have to wait, having done nothing.
func (h *Handler) serveFaultWith(f fault, buf []byte, hd *mm.Handle) (done, retry bool) {
	w := h.windowAt(f.addr)
	if w == nil {
		// Registered by the client, but no window: nothing here exists.
		if f.wp {
			return true, h.wpResult(f.addr, uffdWriteProtect(h.fd, uintptr(f.addr), pageSize, false))
		}
		h.poison(f.addr)
		return true, false
	}
	pg := (f.addr - w.Host) / pageSize
	sa := w.Base + pg*pageSize
	ha := hd
	if hd == nil {
		var err error
		if ha, err = h.ms.LockArea(sa); err != nil {
			// No area (SEGV_MAPERR in Linux), or the space is closed.
			if f.wp {
				h.wpDenied(f)
				return true, false
			}
			h.deny(f.addr)
			return true, false
		}
	} else if !h.ms.TryLockArea(sa, hd) {
		return false, false
	}
	defer ha.Unlock()
	return true, h.fillLocked(f, w, pg, sa, ha, buf)
}

// fillLocked checks the access and fills the page. Precondition: ha holds
// the area over sa.
func (h *Handler) fillLocked(f fault, w *window, pg, sa uint64, ha *mm.Handle, buf []byte) (retry bool) {
	if f.wp {
		return h.wpFaultLocked(f, ha)
	}
	acc := vmspace.Read
	if f.write {
		acc = vmspace.Write
	}
	if !ha.Permits(acc) {
		h.deny(f.addr)
		return false
	}
	// A page of a read-only area is installed write-protected, so that
	// a later store waits for the area to allow it (wp_linux.go).
	mode := h.installMode(w, ha)
	if h.beforeFill != nil {
		h.beforeFill(f.addr)
	}
	if h.injectEAGAIN != nil && h.injectEAGAIN(f.addr) {
		return h.fillResult(f.addr, 0, unix.EAGAIN)
	}
	// A fault read before an event that is queued (an UNMAP, a REMAP, a
	// REMOVE not mirrored at once) may be stale: its thread may have been
	// served by another fill and gone on, and the page may have been
	// dropped, or the address become another mapping, since; a fill now,
	// with the event read and the kernel's mmap_changing over, would put
	// the old contents back (found by `vmspace torture --uffd`: an image
	// page after a drop, and in a range mapped again). Wake instead: a
	// thread still waiting retries and faults anew, after the events.
	h.readMu.RLock()
	defer h.readMu.RUnlock()
	h.q.Lock()
	stale := h.q.read != f.after
	h.q.Unlock()
	if stale {
		h.stats.gone.Add(1)
		uffdWake(h.fd, uintptr(f.addr), pageSize)
		return false
	}
	// Before the ioctl, under readMu: the client's memory may hold the
	// page from here on (pagebits_linux.go).
	w.present.set(pg, true)
	if testFillErr != nil {
		if err := testFillErr(); err != nil {
			return h.fillResult(f.addr, 0, err)
		}
	}
	var n uint64
	var err error
	switch ha.ReadPage(sa, buf) {
	case mm.PageGuard:
		h.poison(f.addr)
		return false
	case mm.PageData:
		n, err = h.copyPage(f.addr, buf, mode)
	default:
		src, off := w.Source, w.SourceOff+int64(pg*pageSize)
		if o, ok := h.lookupOverride(f.addr); ok {
			src, off = o.w.Source, o.off
		} else if !w.srcBit(pg) {
			src = nil
		}
		if src != nil {
			if _, rerr := src.ReadAt(buf, off); rerr != nil {
				// Past the end of the image: zeros, as a file
				// mapping's tail page would read.
				clear(buf)
			}
			n, err = h.copyPage(f.addr, buf, mode)
			if err == nil || err == unix.EEXIST {
				// Host memory holds the page now: the image
				// no longer speaks for it.
				w.setSrc(pg, false)
				h.dropOverrides(f.addr, f.addr+pageSize)
			}
		} else if mode != 0 {
			// UFFDIO_ZEROPAGE has no write-protect mode.
			clear(buf)
			n, err = h.copyPage(f.addr, buf, mode)
		} else {
			n, err = h.zeroPage(f.addr)
		}
	}
	return h.fillResult(f.addr, n, err)
}

// copyPage installs buf at addr (mode: 0 or copyModeWP), resuming a
// partial copy.
func (h *Handler) copyPage(addr uint64, buf []byte, mode uint64) (uint64, error) {
	var done uint64
	for done < pageSize {
		n, err := uffdCopy(h.fd, uintptr(addr+done), unsafe.Pointer(&buf[done]), pageSize-done, mode)
		done += n
		if err != nil {
			return done, err
		}
		if n == 0 {
			break
		}
	}
	h.stats.copies.Add(1)
	return done, nil
}

func (h *Handler) zeroPage(addr uint64) (uint64, error) {
	n, err := uffdZeropage(h.fd, uintptr(addr), pageSize)
	if err == nil {
		h.stats.zeropages.Add(1)
	}
	return n, err
}

// fillResult sorts a fill's outcome: EAGAIN retries, EEXIST counts as
// done (another fault or the client filled it), ENOENT/ESRCH mean the
// range or the process went away.
func (h *Handler) fillResult(addr, n uint64, err error) (retry bool) {
	switch err {
	case nil:
		return false
	case unix.EAGAIN:
		return true
	case unix.EEXIST:
		h.stats.eexist.Add(1)
		uffdWake(h.fd, uintptr(addr), pageSize)
		return false
	case unix.ENOENT, unix.ESRCH, unix.EFAULT:
		h.stats.gone.Add(1)
		uffdWake(h.fd, uintptr(addr), pageSize)
		return false
	}
	h.logf("uffd: fill %#x: %v (%d bytes done)", addr, err, n)
	uffdWake(h.fd, uintptr(addr), pageSize)
	return false
}

// deny answers an access the space refuses. With a Memory, the host
// protection is the area's (PROT_NONE where no area is, set in the write
// session that changed it), so such a fault reaches the handler only if
// it was raised before that session: the waiting thread is woken and its
// retry meets the host protection (SIGSEGV, as Linux sends), or, if the
// range was mapped again since, faults again and is served. Poisoning it
// instead would outlive a later Map: the fault message may be stale (its
// thread was woken by another fill of the page and went on), and the
// poison would then sit on a page nobody was waiting for (found by
// `vmspace torture --uffd`). Without a Memory, poison.
func (h *Handler) deny(addr uint64) {
	if h.mem == nil {
		h.poison(addr)
		return
	}
	h.stats.gone.Add(1)
	uffdWake(h.fd, uintptr(addr), pageSize)
}

// poison answers a denied access: the faulting thread gets SIGBUS
// (UFFDIO_POISON). A page poisoned this way stays poisoned until the
// range is zapped (the space's Unmap/Advise through a Memory, or the
// client's own munmap/MADV_DONTNEED).
func (h *Handler) poison(addr uint64) {
	_, err := uffdPoison(h.fd, uintptr(addr), pageSize)
	switch err {
	case nil:
		h.stats.poisons.Add(1)
	case unix.EAGAIN:
		// An event is unread; the thread will fault again after it.
		uffdWake(h.fd, uintptr(addr), pageSize)
	case unix.EEXIST:
		h.stats.eexist.Add(1)
		uffdWake(h.fd, uintptr(addr), pageSize)
	default:
		h.stats.gone.Add(1)
		uffdWake(h.fd, uintptr(addr), pageSize)
	}
}

// alignedPage returns a page-aligned buffer of one page, outside the Go
// heap (UFFDIO_COPY reads it while the kernel holds no Go pin).
func alignedPage() []byte {
	b, err := unix.Mmap(-1, 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		panic("uffd: mmap of a bounce page: " + err.Error())
	}
	return b
}

// noteCPU records the calling goroutine's thread CPU time in slot i.
func (h *Handler) noteCPU(i int) {
	if !h.measureCPU {
		return
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	h.cpu[i].Store(ts.Nano())
}

func (h *Handler) cpuNs() uint64 {
	var n int64
	for i := range h.cpu {
		n += h.cpu[i].Load()
	}
	return uint64(n)
}

// Test hooks (export_test.go); nil in production.
var (
	testBeforeMirror func()       // runs before each event is mirrored
	testFillErr      func() error // an error to report instead of a fill
)

func yield() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
