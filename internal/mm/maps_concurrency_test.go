package mm

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestMapsListsOneLayout: listings taken by other goroutines while the
// layout changes must each equal one layout that existed while the listing
// ran. One goroutine changes the layout (map, protect, unmap, remap, in
// both lock modes, with faults going on) and records every layout it
// publishes, in order, numbering them; readers note the number before and
// after their listing, and each listing must be one of the layouts in that
// interval (the one after included: the writer publishes before it
// records).
func TestMapsListsOneLayout(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 100
	}
	for _, mode := range []LockMode{PerArea, WholeSpace} {
		t.Run(mode.String(), func(t *testing.T) {
			s := newSpace(t, mode, true, nil)
			layouts := make([][]Mapping, n+2)
			layouts[0] = s.Maps()
			var idx atomic.Int64 // layouts[0..idx] are recorded
			type seen struct {
				lo, hi int64
				m      []Mapping
			}
			var stop atomic.Bool
			var taken atomic.Int64 // listings taken so far
			var wg sync.WaitGroup
			results := make([][]seen, 3)
			for r := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						lo := idx.Load()
						m := s.Maps()
						hi := idx.Load() + 1
						results[r] = append(results[r], seen{lo, hi, m})
						taken.Add(1)
					}
				}()
			}
			wg.Add(1)
			go func() { // faults keep the area locks busy
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					s.Fault(tbase+uint64(i%16)*pg, Access(i%3))
				}
			}()
			// A writer that allocates nothing can finish before a reader is
			// scheduled at all: start once every reader has listed.
			for taken.Load() < int64(len(results)) {
				runtime.Gosched()
			}
			rng := rand.New(rand.NewPCG(1, uint64(mode)))
			for i := 1; i <= n; i++ {
				// Keep the listings going alongside: at least one per
				// change (on one CPU the writer would otherwise finish
				// before a reader runs).
				for taken.Load() < int64(i) {
					runtime.Gosched()
				}
				p, k := uint64(rng.IntN(14)), uint64(1+rng.IntN(3))
				switch rng.IntN(4) {
				case 0:
					s.Map(tbase+p*pg, k*pg, rw, priv|MapFixed)
				case 1:
					s.Protect(tbase+p*pg, k*pg, []Prot{ro, rw, ProtNone}[rng.IntN(3)])
				case 2:
					s.Unmap(tbase+p*pg, k*pg)
				case 3:
					s.Remap(tbase+p*pg, k*pg, k*pg, RemapMayMove|RemapFixed, tbase+uint64(rng.IntN(14))*pg)
				}
				layouts[i] = s.Maps() // only this goroutine changes it
				idx.Store(int64(i))
			}
			layouts[n+1] = layouts[n]
			stop.Store(true)
			wg.Wait()
			total := 0
			for _, rs := range results {
				for _, r := range rs {
					total++
					ok := false
					for i := r.lo; i <= min(r.hi, int64(n+1)) && !ok; i++ {
						ok = slices.Equal(r.m, layouts[i])
					}
					if !ok {
						t.Fatalf("a listing taken between layouts %d and %d is none of them:\n %s\nlayout %d:\n %s",
							r.lo, r.hi, mdlLayout(r.m), r.lo, mdlLayout(layouts[r.lo]))
					}
				}
			}
			if total < n {
				t.Fatalf("only %d listings taken, want at least %d", total, n)
			}
		})
	}
}
