package torture

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmspace/vmspace/internal/mm"
)

// spacesPerPhase is how many spaces the workers share in one phase (see
// the package comment: two, so recycled areas cross between spaces).
const spacesPerPhase = 2

// phase is one configuration's turn: its spaces, its workers' stop flag and
// the operations switched off in it.
type phase struct {
	run    *runState
	index  int
	cfg    spaceConfig
	moves  bool // operations that move contents may run
	spaces []*tspace
	stop   atomic.Bool
	off    []atomic.Bool
}

// pick chooses an enabled operation at random, by weight. Operations may
// be disabled by other workers meanwhile: the weights are read once.
func (ph *phase) pick(rng *rand.Rand) int {
	var wbuf [32]int
	weights := wbuf[:0]
	total := 0
	for i := range ops {
		wt := 0
		if ph.enabled(i) {
			wt = ops[i].weight
		}
		weights = append(weights, wt)
		total += wt
	}
	n := rng.IntN(total)
	for i, wt := range weights {
		if n < wt {
			return i
		}
		n -= wt
	}
	panic("unreachable")
}

func (ph *phase) enabled(i int) bool {
	return !ph.off[i].Load() && (ph.moves || !ops[i].moves)
}

// disable switches an unsupported operation off for the rest of the phase.
func (ph *phase) disable(i int) { ph.off[i].Store(true) }

// hooks are the fault-injection and chaos hooks of the phase's space
// number i. Only even-numbered spaces get the tree's allocation failpoint:
// a tree transaction with a failpoint never writes a leaf in place
// (internal/tree, inplace.go), so with the failpoint everywhere the
// in-place path would never run under the torture.
func (ph *phase) hooks(i int) *mm.Hooks {
	rs := ph.run
	h := &mm.Hooks{}
	if !rs.cfg.NoChaos {
		// Yield at the fault path's and the sessions' hook points, so
		// that other goroutines run in the windows the protocol must
		// cover (between lookup and lock, between check and increment).
		h.At = func(mm.HookPoint, *mm.Area) {
			if rand.IntN(3) == 0 {
				runtime.Gosched()
			}
		}
	}
	if n := rs.cfg.FailAllocOneIn; n > 0 && i%2 == 0 {
		h.TreeAllocFail = func() bool {
			if rand.IntN(n) != 0 {
				return false
			}
			rs.injected.Add(1)
			return true
		}
	}
	return h
}

// runPhase builds the phase's spaces, runs the workers and the checker for
// d, stops them and checks the quiesced spaces.
func (rs *runState) runPhase(index int, d time.Duration) error {
	ph := &phase{run: rs, index: index, cfg: configs[index%len(configs)], moves: (index/len(configs))%2 == 1}
	ph.off = make([]atomic.Bool, len(ops))
	for si := range spacesPerPhase {
		c := mm.DefaultConfig()
		c.Base, c.End = windowBase, windowBase+uint64(rs.cfg.Pages)*mm.PageSize
		t := newTSpace(nil, c.Base, rs.cfg.Pages, rs.cfg.Goroutines)
		hooks := ph.hooks(si)
		hooks.Child = t.snapForChild()
		hooks.Move = t.moveHook
		c.Mode, c.Recycle, c.Hooks = ph.cfg.mode, ph.cfg.recycle, hooks
		s, err := mm.New(c)
		if err != nil {
			return err
		}
		t.s = s
		ph.spaces = append(ph.spaces, t)
	}

	var wg sync.WaitGroup
	workers := make([]*worker, rs.cfg.Goroutines)
	for i := range workers {
		beat := rs.beat(fmt.Sprintf("phase %d worker %d", index, i))
		workers[i] = newWorker(i, rs.cfg.Seed+uint64(index)<<32, ph, beat)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer beat.done.Store(true)
			workers[i].loop()
		}()
	}
	cbeat := rs.beat(fmt.Sprintf("phase %d checker", index))
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cbeat.done.Store(true)
		ph.checker(cbeat)
	}()

	select {
	case <-time.After(d):
	case <-rs.stalled:
		return ErrStall
	}
	ph.stop.Store(true)
	if err := rs.await(fmt.Sprintf("phase %d stop", index), func(*heartbeat) { wg.Wait() }); err != nil {
		return err
	}
	for _, w := range workers {
		for i := range ops {
			rs.counts[i].OK += w.counts[i].OK
			rs.counts[i].Failed += w.counts[i].Failed
			rs.counts[i].Unsupported += w.counts[i].Unsupported
		}
	}
	return rs.await(fmt.Sprintf("phase %d final check", index), ph.finalCheck)
}

// checker checks the spaces' invariants while the workers run.
func (ph *phase) checker(beat *heartbeat) {
	for !ph.stop.Load() {
		for _, t := range ph.spaces {
			if err := t.s.CheckInvariants(false); err != nil {
				ph.run.violate("phase %d (%v): invariants: %v", ph.index, ph.cfg, err)
			}
			if err := checkMaps(t.s.Maps(), t.base, t.pageAddr(t.pages)); err != nil {
				ph.run.violate("phase %d (%v): maps: %v", ph.index, ph.cfg, err)
			}
			ph.run.checks.Add(1)
		}
		beat.bump()
		time.Sleep(ph.run.cfg.CheckEvery)
	}
}

// finalCheck checks the quiesced spaces strictly, then closes them and
// checks that closed spaces refuse calls.
func (ph *phase) finalCheck(beat *heartbeat) {
	rs := ph.run
	buf := make([]byte, mm.PageSize)
	ci := ph.index % len(configs)
	rs.configs[ci].Phases++
	for _, t := range ph.spaces {
		if err := t.s.CheckInvariants(true); err != nil {
			rs.violate("phase %d (%v): quiesced invariants: %v", ph.index, ph.cfg, err)
		}
		rs.checks.Add(1)
		for p := 0; p < t.pages; p++ {
			if _, err := t.s.ReadAt(buf, t.pageAddr(p)); err != nil {
				continue
			}
			if err := t.checkPage(-1, p, buf); err != nil {
				rs.violate("phase %d (%v): final contents: %v", ph.index, ph.cfg, err)
			}
			beat.bump()
		}
		addStats(&rs.configs[ci].Stats, t.s.Stats())
		rs.inPlace.Add(t.s.TreeInPlaceWrites())
		t.s.Close()
		if err := t.s.CheckInvariants(true); err != nil {
			rs.violate("phase %d (%v): closed space: %v", ph.index, ph.cfg, err)
		}
		if n := len(t.s.Maps()); n != 0 {
			rs.violate("phase %d (%v): closed space lists %d areas", ph.index, ph.cfg, n)
		}
		if err := t.s.Fault(t.base, mm.Read); err != mm.ErrClosed {
			rs.violate("phase %d (%v): fault on a closed space: %v", ph.index, ph.cfg, err)
		}
		if _, err := t.s.Map(t.base, mm.PageSize, mm.ProtRead, mm.MapPrivate|mm.MapAnonymous|mm.MapFixed); err != mm.ErrClosed {
			rs.violate("phase %d (%v): map on a closed space: %v", ph.index, ph.cfg, err)
		}
	}
}

func addStats(dst *mm.Stats, s mm.Stats) {
	dst.Success += s.Success
	dst.Abort += s.Abort
	dst.Retry += s.Retry
	dst.Miss += s.Miss
	dst.Fallback += s.Fallback
	dst.SpaceLocked += s.SpaceLocked
}
