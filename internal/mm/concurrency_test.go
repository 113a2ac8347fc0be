package mm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// windowPages is the size of the window the concurrency tests churn: small,
// so that faults and layout changes collide often.
const windowPages = 32

// layoutAt reads the layout of the window as a per-page protection, or
// noArea for a hole.
const noArea = 0xff

func windowLayout(s *Space) [windowPages]uint8 {
	var l [windowPages]uint8
	for i := range l {
		l[i] = noArea
	}
	for _, m := range s.Maps() {
		for a := max(m.Start, tbase); a < min(m.End, tbase+windowPages*pg); a += pg {
			l[(a-tbase)/pg] = uint8(m.Prot())
		}
	}
	return l
}

// answerFits reports whether err is how a fault with acc at a page whose
// state is st must be answered.
func answerFits(st uint8, acc Access, err error) bool {
	if st == noArea {
		return faultCode(err) == MapErr
	}
	if Flags(st).permits(acc) {
		return err == nil
	}
	return faultCode(err) == AccErr
}

// TestConcurrentFaultsAndLayout runs faulting goroutines against one that
// maps, unmaps and protects the same small window, in every configuration.
// Throughout, the invariants hold (no overlap, tree order, no area both
// attached and freed, no page outside an area); at the end every lock word
// is back at 1; and every fault is answered as the layout of some moment
// during the fault allowed: the writer records the layout after each of
// its operations, and a fault that started after record v0 and ended
// before record v1+1 must fit one of the layouts v0 .. v1+1.
func TestConcurrentFaultsAndLayout(t *testing.T) {
	ops := 3000
	if testing.Short() {
		ops = 500
	}
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpace(t, mode, rec, nil)
		const faulters = 3
		var (
			layouts = [][windowPages]uint8{windowLayout(s)}
			version atomic.Int64
			stop    atomic.Bool
			wg      sync.WaitGroup
			bad     atomic.Int64
			checked atomic.Int64
			faults  atomic.Int64
		)
		type answer struct {
			page   int
			acc    Access
			err    error
			v0, v1 int64
		}
		answers := make([][]answer, faulters)
		for f := 0; f < faulters; f++ {
			wg.Add(1)
			go func(f int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(f), 1))
				for !stop.Load() {
					page := r.IntN(windowPages)
					acc := Access(r.IntN(3))
					v0 := version.Load()
					err := s.Fault(tbase+uint64(page)*pg, acc)
					answers[f] = append(answers[f], answer{page, acc, err, v0, version.Load()})
					faults.Add(1)
				}
			}(f)
		}
		// An invariant checker runs beside them.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := s.CheckInvariants(false); err != nil {
					t.Errorf("invariants: %v", err)
					return
				}
			}
		}()
		r := rand.New(rand.NewPCG(42, uint64(mode)))
		prots := []Prot{ProtNone, ro, rw, ProtRead | ProtExec, rw | ProtExec}
		// Do not start before the faulters run, and keep going until
		// they have faulted enough: on 2 cores the writer could
		// otherwise finish before they are scheduled.
		for faults.Load() < faulters {
			runtime.Gosched()
		}
		for i := 0; i < ops || faults.Load() < int64(10*ops) && i < 100*ops; i++ {
			page := uint64(r.IntN(windowPages))
			n := uint64(1 + r.IntN(8))
			switch r.IntN(3) {
			case 0:
				_, _ = s.Map(tbase+page*pg, n*pg, prots[r.IntN(len(prots))], priv|MapFixed)
			case 1:
				_ = s.Unmap(tbase+page*pg, n*pg)
			case 2:
				_ = s.Protect(tbase+page*pg, n*pg, prots[r.IntN(len(prots))])
			}
			layouts = append(layouts, windowLayout(s))
			version.Add(1)
		}
		// Let the faulters go on over the final, quiet layout: on a
		// loaded machine every fault may have met a write session until
		// now, and with no writer left a fault on a mapped page must take
		// the per-area path (checked below) or something is stuck.
		if mode == PerArea && len(s.Maps()) > 0 {
			for f0 := faults.Load(); s.Stats().Success == 0 && faults.Load() < f0+100000; {
				runtime.Gosched()
			}
		}
		stop.Store(true)
		wg.Wait()
		// Check the answers now that every layout is recorded: the
		// operation in flight when a fault ended may have taken effect.
		for _, as := range answers {
			for _, a := range as {
				ok := false
				for _, l := range layouts[a.v0:min(int(a.v1)+2, len(layouts))] {
					if answerFits(l[a.page], a.acc, a.err) {
						ok = true
						break
					}
				}
				checked.Add(1)
				if !ok && bad.Add(1) <= 5 {
					t.Errorf("fault %v at page %d answered %v, fitting no layout between versions %d and %d",
						a.acc, a.page, a.err, a.v0, a.v1+1)
				}
			}
		}
		if err := s.CheckInvariants(true); err != nil {
			t.Error(err)
		}
		if checked.Load() == 0 {
			t.Error("no fault was checked")
		}
		st := s.Stats()
		t.Logf("%d faults checked; %s", checked.Load(), fmt.Sprintf("%+v", st))
		if mode == PerArea && st.Success == 0 {
			t.Error("no fault went through the per-area path")
		}
	})
}
