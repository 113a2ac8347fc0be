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

type held struct {
	spaces map[any]mode
	areas  map[any]int // area -> read locks held
}

type shadow struct {
	readers   int
	excluders int
}

var (
	mu      sync.Mutex
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

func state() *held {
	g := goid()
	h := byG[g]
	if h == nil {
		h = &held{spaces: map[any]mode{}, areas: map[any]int{}}
		byG[g] = h
	}
	return h
}

func fail(format string, args ...any) {
	panic("lockcheck: " + fmt.Sprintf(format, args...))
}

func blockingSpace(l any, m mode) {
	mu.Lock()
	defer mu.Unlock()
	h := state()
	for a, n := range h.areas {
		if n > 0 {
			fail("space lock %p taken (blocking) while holding a read lock on area %p: a writer waiting for that reader would deadlock", l, a)
		}
	}
	if h.spaces[l] != none {
		fail("space lock %p taken recursively", l)
	}
	h.spaces[l] = m
}

func SpaceWrite(l any) { blockingSpace(l, write) }
func SpaceRead(l any)  { blockingSpace(l, read) }

func SpaceTryRead(l any) {
	mu.Lock()
	defer mu.Unlock()
	h := state()
	if h.spaces[l] != none {
		fail("space lock %p try-locked recursively", l)
	}
	h.spaces[l] = read
}

func release(l any, m mode) {
	mu.Lock()
	defer mu.Unlock()
	h := state()
	if h.spaces[l] != m {
		fail("space lock %p released in mode %d but held in mode %d", l, m, h.spaces[l])
	}
	delete(h.spaces, l)
}

func SpaceWriteRelease(l any) { release(l, write) }
func SpaceReadRelease(l any)  { release(l, read) }

// AreaRead records a read lock on area a of space.
func AreaRead(a, space any) {
	mu.Lock()
	defer mu.Unlock()
	state().areas[a]++
}

func AreaReadRelease(a any) {
	mu.Lock()
	defer mu.Unlock()
	h := state()
	if h.areas[a] == 0 {
		fail("area %p read-unlocked but not read-locked by this goroutine", a)
	}
	h.areas[a]--
	if h.areas[a] == 0 {
		delete(h.areas, a)
	}
}

// AreaWrite checks that the goroutine write-locking area a holds the space
// lock of space for writing.
func AreaWrite(a, space any) {
	mu.Lock()
	defer mu.Unlock()
	if state().spaces[space] != write {
		fail("area %p write-locked without holding its space lock %p for writing", a, space)
	}
}

func sh(a any) *shadow {
	s := shadows[a]
	if s == nil {
		s = &shadow{}
		shadows[a] = s
	}
	return s
}

// ExcludeBegin records that a writer or detacher has drained the readers
// of a and excludes new ones.
func ExcludeBegin(a any) {
	mu.Lock()
	defer mu.Unlock()
	s := sh(a)
	if s.readers != 0 {
		fail("area %p: exclusion began with %d readers inside", a, s.readers)
	}
	if s.excluders != 0 {
		fail("area %p: two excluders at once", a)
	}
	s.excluders++
}

func ExcludeEnd(a any) {
	mu.Lock()
	defer mu.Unlock()
	sh(a).excluders--
}

// ReaderIn records a reader that holds a reference on a.
func ReaderIn(a any) {
	mu.Lock()
	defer mu.Unlock()
	s := sh(a)
	if s.excluders != 0 {
		fail("area %p admitted a reader while a writer or detacher excluded readers", a)
	}
	s.readers++
}

func ReaderOut(a any) {
	mu.Lock()
	defer mu.Unlock()
	sh(a).readers--
}
