package uffd

import (
	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/internal/mm"
)

// Write protection for windows in another process that the handler cannot
// mprotect (Memory nil). The client registers its memory in MISSING and
// WP mode (UFFDIO_REGISTER_MODE_WP); then:
//
//   - a Space.Protect that removes write permission write-protects the
//     installed pages of the range (UFFDIO_WRITEPROTECT, in the write
//     session, areas write-locked); one that restores it lifts the
//     protection, which also wakes the threads waiting on it;
//   - a page installed in an area without write permission is installed
//     write-protected (UFFDIO_COPY_MODE_WP), so a later store faults;
//   - an Unmap write-protects the pages the client still has there (it
//     cannot drop them): its stores wait, its loads still see the old
//     bytes, until a Map there lifts the protection;
//   - a write-protect fault is served under the area read lock: if the
//     area allows the write now, the page is un-protected and the thread
//     woken; if not, the thread is left waiting. The page is present, so
//     UFFDIO_POISON cannot answer it (EEXIST), and userfaultfd has no way
//     to raise SIGSEGV: the honest answer is to hold the store until the
//     area allows it (a Protect that restores write wakes it, and the
//     store completes) or the handler closes (Close lifts every
//     protection: the store completes, as on memory no handler serves).
//     The value is never lost: the store happens after the wait, not
//     before. A signal to the waiting thread (the Go runtime's preemption
//     of a client goroutine) makes it fault again; each such fault counts
//     in Stats.WPBlocked.
//
// Where the client did not register WP mode (probeWP fails) none of this
// happens, and a present page of a read-only area stays writable for the
// client (the limit of a Memory-less window, see the package doc).

// probeWP reports whether window w is registered in write-protect mode:
// clearing the protection of the whole window (which changes nothing on
// a window the handler has not protected yet, and wakes nobody) fails
// with ENOENT otherwise.
func probeWP(fd int, w *window) bool {
	return uffdWriteProtectMode(fd, uintptr(w.Host), w.Size, wpModeDontWake) == nil
}

// installMode returns the UFFDIO_COPY mode for a fill of window w in the
// area ha holds: write-protected where the area denies writes and the
// handler has no Memory to mprotect with. Precondition: ha held.
func (h *Handler) installMode(w *window, ha *mm.Handle) uint64 {
	if h.mem != nil || !w.wp || ha.Permits(vmspace.Write) {
		return 0
	}
	w.wpUsed.Store(true)
	return copyModeWP
}

// writeProtect sets (on) or lifts the write protection of host range [lo,
// hi) of w. Precondition: in a write session (observer), the areas over
// the range write-locked, so no fault there is being served.
func (h *Handler) writeProtect(w *window, lo, hi uint64, on bool) {
	if !w.wp || (!on && !w.wpUsed.Load()) {
		return
	}
	if on && !w.mayHold(lo, hi) {
		return // no page of the client's to protect (pagebits_linux.go)
	}
	if on {
		w.wpUsed.Store(true)
		h.stats.wpRanges.Add(1)
	}
	for {
		err := uffdWriteProtect(h.fd, uintptr(lo), hi-lo, on)
		switch err {
		case nil, unix.ENOENT, unix.ESRCH:
			// ENOENT: part of the range is no longer registered in
			// WP mode (the client mapped it again) or not mapped.
			return
		case unix.EAGAIN:
			// An event is unread (mmap_changing). The reader takes
			// no space lock, so it reads it while we wait here.
			if !h.stopping() {
				yield()
				continue
			}
		}
		h.logf("uffd: write-protect [%#x, %#x) %v: %v", lo, hi, on, err)
		return
	}
}

// wpFaultLocked serves a write-protect fault. Precondition: ha holds the
// area over the page.
func (h *Handler) wpFaultLocked(f fault, ha *mm.Handle) (retry bool) {
	if !ha.Permits(vmspace.Write) {
		h.wpDenied(f)
		return false
	}
	return h.wpResult(f.addr, uffdWriteProtect(h.fd, uintptr(f.addr), pageSize, false))
}

// wpDenied leaves the thread of a denied write-protect fault waiting (see
// the top of this file for why).
func (h *Handler) wpDenied(fault) {
	h.stats.wpBlocked.Add(1)
}

// wpResult sorts the outcome of lifting a page's protection (which woke
// its waiters).
func (h *Handler) wpResult(addr uint64, err error) (retry bool) {
	switch err {
	case nil:
		h.stats.wpFaults.Add(1)
	case unix.EAGAIN:
		return true
	case unix.ENOENT, unix.ESRCH:
		h.stats.gone.Add(1)
		uffdWake(h.fd, uintptr(addr), pageSize)
	default:
		h.logf("uffd: write-unprotect %#x: %v", addr, err)
		uffdWake(h.fd, uintptr(addr), pageSize)
	}
	return false
}

// liftWP lifts every protection the handler set, waking the threads
// waiting on denied writes (Close: no handler serves them any more).
func (h *Handler) liftWP() {
	for _, w := range h.regions {
		if w.wp && w.wpUsed.Load() {
			uffdWriteProtect(h.fd, uintptr(w.Host), w.Size, false)
		}
	}
}

// stopping reports whether the handler is stopping (its reader may be
// gone, so an unread event may stay unread).
func (h *Handler) stopping() bool {
	h.q.Lock()
	defer h.q.Unlock()
	return h.q.stopped
}
