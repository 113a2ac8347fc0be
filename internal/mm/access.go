package mm

import (
	"syscall"

	"github.com/vmspace/vmspace/internal/frames"
	"github.com/vmspace/vmspace/internal/lockcheck"
)

// An Accessor is an Observer whose real memory is the store of some pages
// (package uffd: a window's host memory, from a page's install on). ReadAt
// and WriteAt hand it the pages it claims, so that they read and write
// what the real memory's users see, not the space's own copy.
type Accessor interface {
	// AccessAt reads (write false) or writes p, which lies within one
	// page, at addr. ok false: addr is not its, nothing was done. It is
	// called with no lock of the space held and takes what it needs.
	AccessAt(p []byte, addr uint64, write bool) (ok bool, err error)
}

// viaAccessor lets the space's Accessor, if any, do one page's part of a
// ReadAt or WriteAt.
func (s *Space) viaAccessor(p []byte, addr uint64, write bool) (bool, error) {
	acc := s.accessor.Load()
	if acc == nil {
		return false, nil
	}
	return (*acc).AccessAt(p, addr, write)
}

// ReadAt reads len(p) bytes at addr, faulting pages in for reading. Each
// page's read happens under the same lock as its fault, so it is atomic
// with respect to layout changes.
func (s *Space) ReadAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		off := a & pageMask
		chunk := min(uint64(len(p)-n), PageSize-off)
		dst := p[n : n+int(chunk)]
		if ok, err := s.viaAccessor(dst, a, false); ok {
			if err != nil {
				return n, err
			}
			n += int(chunk)
			continue
		}
		err := s.access(a, Read, func(f frames.Frame) { s.mem.Read(f, off, dst) })
		if err != nil {
			return n, err
		}
		n += int(chunk)
	}
	return n, nil
}

// WriteAt writes p at addr, faulting pages in for writing.
func (s *Space) WriteAt(p []byte, addr uint64) (int, error) {
	n := 0
	for n < len(p) {
		a := addr + uint64(n)
		off := a & pageMask
		chunk := min(uint64(len(p)-n), PageSize-off)
		src := p[n : n+int(chunk)]
		if ok, err := s.viaAccessor(src, a, true); ok {
			if err != nil {
				return n, err
			}
			n += int(chunk)
			continue
		}
		err := s.access(a, Write, func(f frames.Frame) { s.mem.Write(f, off, src) })
		if err != nil {
			return n, err
		}
		n += int(chunk)
	}
	return n, nil
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
