package mm

import (
	"syscall"

	"github.com/vmspace/vmspace/internal/frames"
	"github.com/vmspace/vmspace/internal/lockcheck"
)

// ReadAt reads len(p) bytes at addr, faulting pages in for reading. Each
// page's read happens under the same lock as its fault, so it is atomic
// with respect to layout changes. Ranges whose store is an observer's real
// memory (Accessor) are read from there instead.
func (s *Space) ReadAt(p []byte, addr uint64) (int, error) { return s.copyAt(p, addr, false) }

// WriteAt writes p at addr, faulting pages in for writing. Ranges whose
// store is an observer's real memory (Accessor) are written there.
func (s *Space) WriteAt(p []byte, addr uint64) (int, error) { return s.copyAt(p, addr, true) }

// copyAt is ReadAt (write false) and WriteAt: page by page, each under the
// lock of its fault, or through the Accessor where it covers the range.
func (s *Space) copyAt(p []byte, addr uint64, write bool) (int, error) {
	acc := Read
	if write {
		acc = Write
	}
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		if k, err := s.viaAccessor(p[n:], a, write); k != 0 || err != nil {
			n += k
			if err != nil {
				return n, err
			}
			continue
		}
		off := a & pageMask
		chunk := min(uint64(len(p)-n), PageSize-off)
		buf := p[n : n+int(chunk)]
		err := s.access(a, acc, func(f frames.Frame) {
			if write {
				s.mem.Write(f, off, buf)
			} else {
				s.mem.Read(f, off, buf)
			}
		})
		if err != nil {
			return n, err
		}
		n += int(chunk)
	}
	return n, nil
}

// viaAccessor hands the part of p at addr that the observer's memory holds
// to the observer (Accessor). k == 0 with a nil error: addr is not in it,
// and the space's own pages hold it.
func (s *Space) viaAccessor(p []byte, addr uint64, write bool) (k int, err error) {
	b := s.accessor.Load()
	if b == nil {
		return 0, nil
	}
	c := b.a.Covers(addr, len(p))
	if c == 0 {
		return 0, nil
	}
	k, err = b.a.AccessAt(p[:c], addr, write)
	if k == 0 && err == nil {
		err = syscall.EFAULT // no progress: never loop
	}
	return k, err
}

// Mincore reports which pages of [addr, addr+length) are present
// (mincore): EINVAL for an unaligned addr, ENOMEM if part of the range is
// not mapped.
func (s *Space) Mincore(addr, length uint64) ([]bool, error) {
	if addr&pageMask != 0 {
		return nil, syscall.EINVAL
	}
	// access_ok on the raw length first: a length that wraps the address
	// space is refused even where PAGE_ALIGN would make it 0.
	end := addr + (length+pageMask)&^pageMask
	if addr+length < addr || addr+length > s.end || end < addr || addr < s.base && length > 0 || end > s.end {
		return nil, syscall.ENOMEM
	}
	s.lock.RLock()
	defer s.lock.RUnlock()
	snap := s.tree.Snapshot()
	defer snap.Release()
	out := make([]bool, 0, (end-addr)>>pageShift)
	for a := addr; a < end; a += PageSize {
		it, ok := snap.Find(a)
		if !ok {
			return nil, syscall.ENOMEM
		}
		out = append(out, s.residentLocked(it.Val.a, a))
	}
	return out, nil
}

// residentLocked is mincore's answer for the page at addr of area a
// (mincore_pte_range): for a shared mapping whether its object holds the
// page (mincore_page asks the page cache, so a page whose PTE was zapped
// still counts), for a private one whether a page, the zero page included,
// is mapped, or for a private file mapping, whether the file's page cache
// holds it; a guard marker is not a page.
// Precondition: the space lock held; a covers addr.
func (s *Space) residentLocked(a *Area, addr uint64) bool {
	if a.flags&VMMayShare != 0 {
		return a.shm.resident(a.objIndex(addr))
	}
	p := s.pt.Lookup((addr - s.base) >> pageShift)
	if p != frames.None && p != frames.Guard {
		return true
	}
	// A private file mapping: a page not mapped here still counts if
	// the page cache holds it (mincore_page on the file's mapping).
	return a.shm != nil && a.shm.resident(a.objIndex(addr))
}

// Handle is a read-locked area (see LockArea).
type Handle struct {
	s           *Space
	a           *Area
	spaceLocked bool
}

// LockArea read-locks the area covering addr so that the caller can work
// on it while it cannot change: through the lockless path when it
// succeeds, else under the space lock held for reading.
func (s *Space) LockArea(addr uint64) (*Handle, error) {
	if s.mode == PerArea {
		if a := s.lockAreaLockless(addr); a != nil {
			lockcheck.AreaRead(a, s)
			return &Handle{s: s, a: a}, nil
		}
	}
	s.lock.RLock()
	if s.closing.Load() {
		s.lock.RUnlock()
		return nil, ErrClosed
	}
	it, ok := s.tree.Find(addr)
	if !ok {
		s.lock.RUnlock()
		return nil, &FaultError{Addr: addr, Code: MapErr}
	}
	return &Handle{s: s, a: it.Val.a, spaceLocked: true}, nil
}

// Start returns the area's first address.
func (h *Handle) Start() uint64 { return h.a.start }

// End returns the address after the area's last.
func (h *Handle) End() uint64 { return h.a.end }

// Flags returns the area's flags.
func (h *Handle) Flags() Flags { return h.a.flags }

// Prot returns the area's protection.
func (h *Handle) Prot() Prot { return h.a.flags.Prot() }

// Unlock releases the area.
func (h *Handle) Unlock() {
	if h.spaceLocked {
		h.s.lock.RUnlock()
	} else {
		lockcheck.AreaReadRelease(h.a)
		h.a.readUnlock(h.s)
	}
	h.a = nil
}
