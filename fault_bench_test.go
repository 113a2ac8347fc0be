package vmspace_test

import (
	"math/rand/v2"
	"testing"

	"github.com/vmspace/vmspace"
)

// BenchmarkFault is an uncontended fault, in both lock modes, at each size:
//
//	present  a write fault on a page already present (the fast path's
//	         fixed cost: lookup, lock, check, unlock; allocates nothing)
//	new      a write fault that makes a zero-filled page present (one
//	         allocation: the page)
//	hole     a fault on an address no area covers (SEGV_MAPERR)
//	present-scattered  a read fault on a present page (the zero page),
//	         each in another of the n areas, in a shuffled order: the
//	         lookup hint (internal/mm, lookup.go) misses nearly every
//	         time, so this is the tree walk's cost plus the hint's store,
//	         where present is a hint hit
func BenchmarkFault(b *testing.B) {
	b.Run("present", func(b *testing.B) {
		eachSize(b, func(b *testing.B, n int) {
			eachConfig(b, n, func(b *testing.B, f *fixture) {
				b.ReportAllocs()
				defer reportCPU(b, processCPU())
				for b.Loop() {
					if err := f.s.Fault(f.mid, vmspace.Write); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	})
	b.Run("present-scattered", func(b *testing.B) {
		eachSize(b, func(b *testing.B, n int) {
			eachConfig(b, n, func(b *testing.B, f *fixture) {
				addrs := make([]uint64, f.n)
				for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(f.n) {
					addrs[i] = areaStart(j)
					if err := f.s.Fault(addrs[i], vmspace.Read); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				defer reportCPU(b, processCPU())
				i := 0
				for b.Loop() {
					if err := f.s.Fault(addrs[i], vmspace.Read); err != nil {
						b.Fatal(err)
					}
					if i++; i == len(addrs) {
						i = 0
					}
				}
			})
		})
	})
	b.Run("new", func(b *testing.B) {
		eachSize(b, func(b *testing.B, n int) {
			eachConfig(b, n, benchFaultNew)
		})
	})
	b.Run("hole", func(b *testing.B) {
		eachSize(b, func(b *testing.B, n int) {
			eachConfig(b, n, func(b *testing.B, f *fixture) {
				b.ReportAllocs()
				hole := f.mid + (areaPages+1)*pg
				defer reportCPU(b, processCPU())
				for b.Loop() {
					// A type assertion, not errors.As, whose target
					// would escape and add an allocation of its own.
					if fe, ok := f.s.Fault(hole, vmspace.Write).(*vmspace.FaultError); !ok || fe.Code != vmspace.MapErr {
						b.Fatal("fault on a hole did not fail with MapErr")
					}
				}
			})
		})
	})
}

// benchFaultNew faults the scratch area's pages in one after the other and,
// with the timer stopped, drops them all (Advise DONTNEED, which keeps the
// area and its anon_vma) every scratchPages faults.
func benchFaultNew(b *testing.B, f *fixture) {
	b.ReportAllocs()
	drop := func() {
		if err := f.s.Advise(scratchAddr, scratchPages*pg, vmspace.AdviseDontNeed); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	drop()
	b.StartTimer()
	i := 0
	for b.Loop() {
		if i == scratchPages {
			b.StopTimer()
			drop()
			b.StartTimer()
			i = 0
		}
		if err := f.s.Fault(scratchAddr+uint64(i)*pg, vmspace.Write); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	drop() // leave no pages behind for the next benchmark's heap
}
