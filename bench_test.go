package vmspace_test

// Shared fixtures of the root benchmarks (the *_bench_test.go files): spaces
// holding N areas, built once per benchmark process and reused by every
// benchmark that asks for the same size and configuration.
//
// Every benchmark that changes a fixture's layout puts it back as it was
// before its op ends, so the cached spaces stay as built.
//
// Memory: a fixture of 1,000,000 areas holds about 150 MB, and the GC's
// cost per allocated byte grows with the live heap, so run one top-level
// benchmark per process (-bench '^BenchmarkMapUnmap$') when the figures
// at small sizes matter: within a process, a later benchmark's small sizes
// would run beside the earlier one's big fixtures.

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vmspace/vmspace"
)

const (
	pg = vmspace.PageSize
	// Fixture areas are areaPages long, one every slotPages, laid out
	// downwards from fixTop as top-down mmap places them. The gap of
	// slotPages-areaPages pages keeps them from merging and leaves room
	// for a page in the middle of each gap that touches nothing.
	areaPages = 3
	slotPages = 6
	fixTop    = 1 << 46
	// scratch is a separate area for faults on new pages, far below.
	scratchAddr  = 1 << 32
	scratchPages = 4096

	rw   = vmspace.ProtRead | vmspace.ProtWrite
	priv = vmspace.MapPrivate | vmspace.MapAnonymous
)

// sizes are the layout sizes every benchmark runs at; the two largest are
// skipped under -short.
func sizes() []int {
	if testing.Short() {
		return []int{10, 1000}
	}
	return []int{10, 1000, 100000, 1000000}
}

// config is one space configuration.
type config struct {
	mode    vmspace.LockMode
	recycle bool
}

func (c config) String() string {
	r := "on"
	if !c.recycle {
		r = "off"
	}
	return fmt.Sprintf("mode=%v/recycle=%s", c.mode, r)
}

// configs are both lock modes with recycling on and off.
var configs = []config{
	{vmspace.PerArea, true}, {vmspace.PerArea, false},
	{vmspace.WholeSpace, true}, {vmspace.WholeSpace, false},
}

// fixture is a space of n areas.
type fixture struct {
	s *vmspace.Space
	n int
	// mid is the start of area n/2, the one the benchmarks work on. Its
	// first page is present (written), so it has an anon_vma.
	mid uint64
	// bytesPerArea is the heap the n areas took, tree included: HeapAlloc
	// after a GC, after building, less the same before.
	bytesPerArea float64
}

type fixtureKey struct {
	n int
	c config
}

var fixtures = map[fixtureKey]*fixture{}

// areaStart returns the start of fixture area i.
func areaStart(i int) uint64 { return fixTop - uint64(i+1)*slotPages*pg }

// getFixture returns the cached fixture of n areas in configuration c,
// building it on first use (with the timer stopped).
func getFixture(b *testing.B, n int, c config) *fixture {
	k := fixtureKey{n, c}
	if f := fixtures[k]; f != nil {
		return f
	}
	b.StopTimer()
	defer b.StartTimer()
	f, err := buildFixture(n, c)
	if err != nil {
		b.Fatal(err)
	}
	fixtures[k] = f
	return f
}

func heapAfterGC() uint64 {
	// Twice: the first cycle moves sync.Pool contents (recycled areas) to
	// the victim cache, the second frees them.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// buildSpace builds a space of n fixture areas.
func buildSpace(n int, c config) (*vmspace.Space, error) {
	s, err := vmspace.New(vmspace.WithLockMode(c.mode), vmspace.WithRecycling(c.recycle), vmspace.WithMmapBase(fixTop))
	if err != nil {
		return nil, err
	}
	for i := range n {
		if _, err := s.Map(areaStart(i), areaPages*pg, rw, priv|vmspace.MapFixedNoReplace); err != nil {
			s.Close()
			return nil, fmt.Errorf("building area %d of %d: %w", i, n, err)
		}
	}
	if s.Len() != n {
		s.Close()
		return nil, fmt.Errorf("built %d areas, want %d (did some merge?)", s.Len(), n)
	}
	return s, nil
}

func buildFixture(n int, c config) (*fixture, error) {
	before := heapAfterGC()
	s, err := buildSpace(n, c)
	if err != nil {
		return nil, err
	}
	f := &fixture{s: s, n: n, mid: areaStart(n / 2)}
	f.bytesPerArea = float64(heapAfterGC()-before) / float64(n)
	if err := s.Fault(f.mid, vmspace.Write); err != nil {
		return nil, err
	}
	if _, err := s.Map(scratchAddr, scratchPages*pg, rw, priv|vmspace.MapFixedNoReplace); err != nil {
		return nil, err
	}
	return f, nil
}

// eachSize runs fn as sub-benchmark areas=N for every size.
func eachSize(b *testing.B, fn func(b *testing.B, n int)) {
	for _, n := range sizes() {
		b.Run(fmt.Sprintf("areas=%d", n), func(b *testing.B) { fn(b, n) })
	}
}

// eachConfig runs fn as sub-benchmark mode=M/recycle=R for every config,
// on the fixture of n areas.
func eachConfig(b *testing.B, n int, fn func(b *testing.B, f *fixture)) {
	for _, c := range configs {
		b.Run(c.String(), func(b *testing.B) { fn(b, getFixture(b, n, c)) })
	}
}
