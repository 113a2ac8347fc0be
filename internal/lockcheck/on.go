//go:build vmspace_lockcheck

package lockcheck

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// Enabled reports whether the validator is compiled in.
const Enabled = true

type mode int

const (
	none mode = iota
	read
	write
)

func (m mode) String() string {
	switch m {
	case read:
		return "read"
	case write:
		return "write"
	}
	return "none"
}

// held is what one goroutine holds.
type held struct {
	spaces map[any]mode
	areas  map[any]int // area -> read locks held
}

func (h *held) empty() bool { return len(h.spaces) == 0 && len(h.areas) == 0 }

// shadow is the validator's own count of an area lock's readers and
// excluders, kept beside the lock word to check rule 4.
type shadow struct {
	readers   int
	excluders int
}

var (
	mu sync.Mutex
	// byG and shadows drop entries that become empty, so that a long run
	// (torture) with many goroutines and recycled areas stays small.
	byG     = map[uint64]*held{}
	shadows = map[any]*shadow{}
)

// goid parses the current goroutine's id from its stack header. Slow, and
// only compiled into validator builds.
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("lockcheck: cannot parse goroutine id")
	}
	return id
}

// state returns the current goroutine's record, creating it. Callers hold
// mu and call done when finished with it.
func state() (*held, func()) {
	g := goid()
	h := byG[g]
	if h == nil {
		h = &held{spaces: map[any]mode{}, areas: map[any]int{}}
		byG[g] = h
	}
	return h, func() {
		if h.empty() {
			delete(byG, g)
		}
	}
}

// fail reports a violation. It panics: the violation is a bug in the
// caller, and a panic shows its stack.
func fail(format string, args ...any) {
	panic("lockcheck: " + fmt.Sprintf(format, args...))
}

func blockingSpace(l any, m mode) {
	mu.Lock()
	defer mu.Unlock()
	h, done := state()
	defer done()
	for a, n := range h.areas {
		if n > 0 {
			fail("space lock %p taken (blocking, %v) while holding a read lock on area %p: a writer waiting for that reader would deadlock", l, m, a)
		}
	}
	if h.spaces[l] != none {
		fail("space lock %p taken for %v while already held for %v by this goroutine", l, m, h.spaces[l])
	}
	h.spaces[l] = m
}

// SpaceWrite records that the goroutine is about to block taking space
// lock l for writing (rules 1 and 3).
func SpaceWrite(l any) { blockingSpace(l, write) }

// SpaceRead records that the goroutine is about to block taking space lock
// l for reading (rules 1 and 3).
func SpaceRead(l any) { blockingSpace(l, read) }

// SpaceTryRead records a successful try-lock of l for reading: allowed
// under an area read lock, since it cannot wait (rule 3 still applies).
func SpaceTryRead(l any) {
	mu.Lock()
	defer mu.Unlock()
	h, done := state()
	defer done()
	if h.spaces[l] != none {
		fail("space lock %p try-locked for reading while already held for %v by this goroutine", l, h.spaces[l])
	}
	h.spaces[l] = read
}

func release(l any, m mode) {
	mu.Lock()
	defer mu.Unlock()
	h, done := state()
	defer done()
	if h.spaces[l] != m {
		fail("space lock %p released for %v but held for %v by this goroutine", l, m, h.spaces[l])
	}
	delete(h.spaces, l)
}

// SpaceWriteRelease records the release of a write lock on l.
func SpaceWriteRelease(l any) { release(l, write) }

// SpaceReadRelease records the release of a read lock on l.
func SpaceReadRelease(l any) { release(l, read) }

// AreaRead records a read lock on area a of space. Taking one while
// holding any space lock for writing is a violation: the fault path never
// runs inside a write session, and a writer that read-locked an area of
// its own space and then write-locked it would wait for itself.
func AreaRead(a, space any) {
	mu.Lock()
	defer mu.Unlock()
	h, done := state()
	defer done()
	for l, m := range h.spaces {
		if m == write {
			fail("area %p read-locked while holding space lock %p for writing: a write session must not take area read locks", a, l)
		}
	}
	h.areas[a]++
}

// AreaReadRelease records the release of a read lock on area a.
func AreaReadRelease(a any) {
	mu.Lock()
	defer mu.Unlock()
	h, done := state()
	defer done()
	if h.areas[a] == 0 {
		fail("area %p read-unlocked but not read-locked by this goroutine", a)
	}
	h.areas[a]--
	if h.areas[a] == 0 {
		delete(h.areas, a)
	}
}

// AreaWrite checks that the goroutine write-locking area a holds the space
// lock of space for writing (rule 2).
func AreaWrite(a, space any) {
	mu.Lock()
	defer mu.Unlock()
	h, done := state()
	defer done()
	if h.spaces[space] != write {
		fail("area %p write-locked without holding its space lock %p for writing", a, space)
	}
}

// AssertNoneHeld checks that the calling goroutine holds no space lock and
// no area read lock: call it where a goroutine has finished a call into
// the library, to catch a lock leaked on some return path.
func AssertNoneHeld() {
	mu.Lock()
	defer mu.Unlock()
	h := byG[goid()]
	if h == nil || h.empty() {
		return
	}
	fail("goroutine still holds locks after its call returned: spaces %v, areas %v", h.spaces, h.areas)
}

// sh returns a's shadow; callers hold mu and call put after changing it.
func sh(a any) *shadow {
	s := shadows[a]
	if s == nil {
		s = &shadow{}
		shadows[a] = s
	}
	return s
}

func put(a any, s *shadow) {
	if s.readers == 0 && s.excluders == 0 {
		delete(shadows, a)
	}
}

// ExcludeBegin records that a writer or detacher has drained the readers
// of a and excludes new ones (rule 4).
func ExcludeBegin(a any) {
	mu.Lock()
	defer mu.Unlock()
	s := sh(a)
	defer put(a, s)
	if s.readers != 0 {
		fail("area %p: exclusion began with %d readers inside", a, s.readers)
	}
	if s.excluders != 0 {
		fail("area %p: two excluders at once", a)
	}
	s.excluders++
}

// ExcludeEnd records the end of an exclusion, before readers may enter.
func ExcludeEnd(a any) {
	mu.Lock()
	defer mu.Unlock()
	s := sh(a)
	defer put(a, s)
	if s.excluders != 1 {
		fail("area %p: exclusion ended but %d excluders recorded", a, s.excluders)
	}
	s.excluders--
}

// ReaderIn records a reader that now holds a reference on a (rule 4).
func ReaderIn(a any) {
	mu.Lock()
	defer mu.Unlock()
	s := sh(a)
	defer put(a, s)
	if s.excluders != 0 {
		fail("area %p admitted a reader while a writer or detacher excluded readers", a)
	}
	s.readers++
}

// ReaderOut records a reader dropping its reference, before it does.
func ReaderOut(a any) {
	mu.Lock()
	defer mu.Unlock()
	s := sh(a)
	defer put(a, s)
	if s.readers == 0 {
		fail("area %p: a reader left that never entered (reference dropped twice?)", a)
	}
	s.readers--
}
