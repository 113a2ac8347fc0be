package uffd

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
)

// observer is the Handler seen as the space's mm.Observer. Its methods run
// at commit of a write session (space lock held for writing, the areas
// over the range write-locked): no worker can be serving a fault in the
// range, since a worker serves only under the area's read lock.
type observer Handler

// spaceParts calls fn for every part of space range [start, end) that lies
// in a window, with the matching host range.
func (o *observer) spaceParts(start, end uint64, fn func(w *window, hlo, hhi uint64)) {
	for _, w := range o.regions {
		lo, hi := max(start, w.Base), min(end, w.Base+w.Size)
		if lo < hi {
			fn(w, w.Host+lo-w.Base, w.Host+hi-w.Base)
		}
	}
}

func (o *observer) Zap(start, end uint64, unmapped bool) {
	h := (*Handler)(o)
	o.spaceParts(start, end, func(w *window, lo, hi uint64) {
		w.clearSrc((lo-w.Host)/pageSize, (hi-w.Host)/pageSize)
		h.dropOverrides(lo, hi)
		if h.isMirrored(lo, hi) {
			return
		}
		if h.mem == nil {
			// Nothing can drop the client's pages from here. Where
			// no area is left, at least its stores to them wait
			// (write protection, wp_linux.go) until an area that
			// allows them is mapped there again or the handler
			// closes.
			if unmapped {
				h.writeProtect(w, lo, hi, true)
			}
			return
		}
		h.self.Lock()
		h.self.ranges = append(h.self.ranges, [2]uint64{lo, hi})
		h.self.Unlock()
		// The zap raises a REMOVE event and waits until the reader has
		// read it; the reader takes no space lock, so it can.
		if err := h.mem.Zap(lo, hi-lo); err == nil {
			w.gone(lo, hi)
		} else if !errors.Is(err, ErrMemoryGone) {
			h.logf("uffd: zap [%#x, %#x): %v", lo, hi, err)
		}
		// The madvise returned once its events were read; wait until
		// the reader has sorted them, then forget the range.
		h.waitReaderBatch()
		h.self.Lock()
		for i, r := range h.self.ranges {
			if r == [2]uint64{lo, hi} {
				h.self.ranges = append(h.self.ranges[:i], h.self.ranges[i+1:]...)
				break
			}
		}
		h.self.Unlock()
		if unmapped {
			// No area: a present page must not stay reachable. With
			// PROT_NONE the kernel raises SIGSEGV (SEGV_ACCERR, where
			// Linux would say SEGV_MAPERR) without asking us.
			h.mem.Protect(lo, hi-lo, vmspace.ProtNone)
		}
	})
}

func (o *observer) Move(from, to, length uint64, prot vmspace.Prot) {
	h := (*Handler)(o)
	for off := uint64(0); off < length; off += pageSize {
		fw, tw := h.spaceWindow(from+off), h.spaceWindow(to+off)
		if fw == nil || tw == nil {
			continue
		}
		fpg, tpg := (from+off-fw.Base)/pageSize, (to+off-tw.Base)/pageSize
		fromSource := fw.srcBit(fpg)
		fw.setSrc(fpg, false)
		tw.setSrc(tpg, false)
		src, dst := fw.Host+fpg*pageSize, tw.Host+tpg*pageSize
		if ov, ok := h.lookupOverride(src); ok {
			// An image page moved here before and not installed yet
			// (an override; its srcBit is clear) moves on as one: found
			// missing at the end of two mremaps by the real-fault
			// torture, and left stale at src.
			h.dropOverrides(src, src+pageSize)
			h.setOverride(dst, ov.off, ov.w)
			continue
		}
		var err error = unix.ENOENT
		if !h.isMirrored(min(src, dst), max(src, dst)+pageSize) {
			if h.mem != nil {
				// UFFDIO_MOVE wants the same protection on both
				// sides; the protections proper follow in Protect.
				h.mem.Protect(src, pageSize, prot)
				h.mem.Protect(dst, pageSize, prot)
			}
			// The installed page moves with its area. ENOENT: not
			// installed.
			if err = h.movePage(dst, src); err == nil {
				tw.present.set(tpg, true)
				fw.present.set(fpg, false)
			}
		}
		if (err == unix.ENOENT || err == errCrossMove) && fromSource {
			// Not installed and still the image's: the image page
			// does not follow the address, so remember where it went
			// (an override); the first fault on dst reads it from
			// there. Not installed now: a drop of dst that the client
			// made after its mremap, still unread or unmirrored, would
			// then be undone by a page of the image (found by the
			// real-fault torture with the two sides' changes racing);
			// the drop's mirror clears the override instead.
			h.setOverride(dst, fw.SourceOff+int64(fpg*pageSize), fw)
			err = nil
		}
		if err != nil && err != unix.ENOENT && err != unix.EEXIST && err != errCrossMove {
			h.logf("uffd: move %#x -> %#x: %v", src, dst, err)
		}
	}
}

// errCrossMove: UFFDIO_MOVE refused a move in another process.
var errCrossMove = errors.New("uffd: UFFDIO_MOVE refuses moves in another process")

// movePage moves the installed page at host address src to dst
// (UFFDIO_MOVE). The kernel moves pages only within the mm of the
// process calling it (fs/userfaultfd.c refuses cross-mm moves with
// EINVAL), so for a window in another process the move is the client's
// to do: a Memory that is a Mover (Remote) asks it; without one the page
// cannot follow its area (logged once; the page at dst then reads as the
// space's pre-install store says, and the client keeps the old page).
// Precondition: in a write session (observer).
func (h *Handler) movePage(dst, src uint64) error {
	for {
		err := h.movePageOnce(dst, src)
		if err != unix.EAGAIN || h.stopping() {
			return err
		}
		// An event is unread (mmap_changing): the reader, which takes
		// no space lock, reads it while we wait here.
		yield()
	}
}

func (h *Handler) movePageOnce(dst, src uint64) error {
	if m, ok := h.mem.(Mover); ok {
		return m.Move(dst, src, pageSize)
	}
	_, err := uffdMove(h.fd, uintptr(dst), uintptr(src), pageSize)
	if err == unix.EINVAL && h.mem == nil {
		if !h.crossMoveLogged {
			h.crossMoveLogged = true
			h.logf("uffd: the space moved installed pages of a window in another process; UFFDIO_MOVE refuses cross-process moves, so they stay behind (a cooperating client moves them)")
		}
		return errCrossMove
	}
	return err
}

func (o *observer) Protect(start, end uint64, prot vmspace.Prot) {
	h := (*Handler)(o)
	if h.mem == nil {
		// No Memory to mprotect with: write-protect the installed
		// pages instead, where the client registered for it.
		o.spaceParts(start, end, func(w *window, lo, hi uint64) {
			if !h.isMirrored(lo, hi) {
				h.writeProtect(w, lo, hi, prot&vmspace.ProtWrite == 0)
			}
		})
		return
	}
	o.spaceParts(start, end, func(w *window, lo, hi uint64) {
		if h.isMirrored(lo, hi) {
			return
		}
		if err := h.mem.Protect(lo, hi-lo, prot); err != nil && !errors.Is(err, ErrMemoryGone) {
			h.logf("uffd: protect [%#x, %#x): %v", lo, hi, err)
		}
	})
}

// spaceWindow returns the window holding space address a.
func (h *Handler) spaceWindow(a uint64) *window {
	for _, w := range h.regions {
		if a >= w.Base && a < w.Base+w.Size {
			return w
		}
	}
	return nil
}

// Local is the Memory of a window in this process. Its pages may be
// touched only through system calls (MADV_POPULATE_READ/WRITE, read(2)
// into them, process_vm_readv): see "The Go trap" in the package doc.
type Local struct{}

func (Local) Zap(addr, length uint64) error {
	_, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), unix.MADV_DONTNEED)
	if e != 0 {
		return e
	}
	return nil
}

func (Local) Protect(addr, length uint64, prot vmspace.Prot) error {
	_, _, e := unix.Syscall(unix.SYS_MPROTECT, uintptr(addr), uintptr(length), uintptr(prot))
	if e != 0 {
		return e
	}
	return nil
}

// override says that the page at a host address holds page Off of the
// Source of window W: an image page moved before its first touch, whose
// install at the new place the kernel refused for the moment.
type override struct {
	w   *window
	off int64
}

// setOverride records an override for host page dst. Called at commit.
func (h *Handler) setOverride(dst uint64, off int64, w *window) {
	h.overrides.Store(dst, override{w, off})
	h.noverrides.Add(1)
}

// dropOverrides forgets the overrides in [lo, hi). Called at commit.
func (h *Handler) dropOverrides(lo, hi uint64) {
	if h.noverrides.Load() == 0 {
		return
	}
	for a := lo; a < hi; a += pageSize {
		if _, ok := h.overrides.LoadAndDelete(a); ok {
			h.noverrides.Add(-1)
		}
	}
}

// lookupOverride returns the override of host page a, if any.
// Precondition: the area over a is read-locked.
func (h *Handler) lookupOverride(a uint64) (override, bool) {
	if h.noverrides.Load() == 0 {
		return override{}, false
	}
	v, ok := h.overrides.Load(a)
	if !ok {
		return override{}, false
	}
	return v.(override), true
}
