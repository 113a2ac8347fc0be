package mm

import (
	"sync"
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/arealock"
)

// anonVMA identifies the set of anonymous pages an area's private pages
// belong to (the kernel's anon_vma). Two areas merge only if their anonVMAs
// are compatible, so the identity matters, not the contents.
type anonVMA struct {
	id uint64
}

var anonIDs atomic.Uint64

func newAnonVMA() *anonVMA { return &anonVMA{id: anonIDs.Add(1)} }

// Area is one mapped range of a space (the kernel's vm_area_struct).
type Area struct {
	// lock is the area lock. Atomic; read by lockless readers.
	lock arealock.Lock

	// space is the owner (vm_mm). Read by lockless readers, possibly
	// after the area was freed and reused by another space, so atomic.
	// Kept when the area is freed, as the kernel keeps vm_mm.
	space atomic.Pointer[Space]

	// anon is the anon_vma. Set once by the first write fault under the
	// space read lock and Space.ptl, and read by faults without either,
	// so atomic; writers also change it (merges) under the space write
	// lock with the area write-locked.
	anon atomic.Pointer[anonVMA]

	// The range and attributes. Written under the space write lock while
	// the area is write-locked or not yet attached; read under the area
	// read lock or the space lock.
	start, end uint64
	pgoff      uint64 // page offset: addr>>12 at creation for private, offset into shm for shared
	flags      Flags
	shm        *shmObject
	// anonChain counts the anon_vmas the area's pages may belong to: 1
	// for an area that was written, more for a child of Fork whose
	// parent's pages it still shares (the kernel's anon_vma_chain
	// length; "uncowed parents" when above 1). Protected like anon.
	anonChain int32

	// sess is the writer's bookkeeping for the current write session.
	// Protected by the space write lock.
	sess sessState

	// live is true from allocation to free. Atomic so that invariant
	// checkers can read it at any time ("no area both attached and freed").
	live atomic.Bool
}

// Start returns the first address. Needs the area's read lock or the
// space lock.
func (a *Area) Start() uint64 { return a.start }

// End returns the address after the last. Same rules as Start.
func (a *Area) End() uint64 { return a.end }

// Flags returns the area's flags. Same rules as Start.
func (a *Area) Flags() Flags { return a.flags }

// LockCount returns the raw lock word, for invariant checks.
func (a *Area) LockCount() uint32 { return a.lock.Count() }

// Live reports whether the area is allocated (not freed).
func (a *Area) Live() bool { return a.live.Load() }

// pages returns the number of pages in the area.
func (a *Area) pages() uint64 { return (a.end - a.start) >> pageShift }

// areaPool recycles freed areas across all spaces at once, as the kernel's
// SLAB_TYPESAFE_BY_RCU vm_area_struct cache does. An area taken from it may
// still be the target of a stale lockless reader, which is why readers
// validate after they lock. Freed areas keep their lock word at 0, their
// stamp and their space pointer, as the kernel's slab keeps them.
var areaPool sync.Pool

// allocArea returns a detached, unstamped area owned by s (vm_area_alloc).
func (s *Space) allocArea() *Area {
	var a *Area
	if s.recycle {
		if h := s.hooks; h != nil && h.Alloc != nil {
			a = h.Alloc()
		}
		if a == nil {
			a, _ = areaPool.Get().(*Area)
		}
	}
	if a == nil {
		a = new(Area)
	}
	if a.lock.Count() != 0 || a.live.Load() {
		panic("mm: allocating an area that is not free")
	}
	// vma_init: the count is already 0, so no reader can get in while
	// we fill the fields; only after Attach can one.
	a.lock.Init()
	a.space.Store(s)
	a.anon.Store(nil)
	a.start, a.end, a.pgoff, a.flags, a.shm, a.anonChain = 0, 0, 0, 0, nil, 0
	a.sess = 0
	a.live.Store(true)
	return a
}

// freeArea frees a detached area (vm_area_free). It must not touch the
// stamp: a freed area stays write-locked by its stamp until the session
// ends (the race Vlastimil Babka found when the kernel reset it on free).
func (s *Space) freeArea(a *Area) {
	if a.lock.Count() != 0 {
		panic("mm: freeing an attached area")
	}
	a.live.Store(false)
	if h := s.hooks; h != nil && h.Free != nil {
		h.Free(a)
	}
	if h := s.hooks; h != nil && h.Keep != nil && h.Keep(a) {
		return
	}
	if s.recycle {
		areaPool.Put(a)
	}
}
