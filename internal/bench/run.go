package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"
)

// Config bounds and selects a run of the workload.
type Config struct {
	// Duration is how long F faults in each engine × churn × repetition.
	Duration time.Duration
	// Reps is the number of repetitions.
	Reps    int
	Engines []Engine
	Churns  []Churn
	// Areas is the number of background areas the vmspace engines hold
	// besides F's (a small process has a few hundred VMAs).
	Areas int
	// NoRecycle turns vmspace's area recycling off.
	NoRecycle bool
	// Seed orders the runs within each repetition.
	Seed uint64
	// Progress, if set, is called after each run.
	Progress func(rep int, engine string, churn Churn, faultsPerS float64)
}

// warmRounds are rounds F does before the timed part, so that code, caches
// and page-table levels are warm.
const warmRounds = 4

// epoch anchors the clock: time.Since on a monotonic time reads only the
// monotonic clock (one vDSO call, ~20 ns here), cheaper than time.Now.
var epoch = time.Now()

func now() time.Duration { return time.Since(epoch) }

// sample is what one run measured.
type sample struct {
	faults   uint64
	fElapsed time.Duration
	hist     *Hist
	ops      uint64
	wElapsed time.Duration
	ctr      Counters
	hasCtr   bool
	gcs      uint32
	// allocBytes is what the Go heap allocated during the run.
	allocBytes uint64
	frames     Frames
	hasFrames  bool
	drop       string
	// handlerCPU is the CPU time of the uffd engines' handler threads
	// during the timed part.
	handlerCPU    time.Duration
	hasHandlerCPU bool
}

// remoteFaulter is a target whose F runs in another process (the uffd
// engines): it warms up and runs the fault loop there.
type remoteFaulter interface {
	warm(rounds int) error
	remoteFaultLoop(d time.Duration, out *sample) error
}

func (s *sample) faultsPerS() float64 { return float64(s.faults) / s.fElapsed.Seconds() }

func (s *sample) opsPerS() float64 {
	if s.wElapsed <= 0 {
		return 0
	}
	return float64(s.ops) / s.wElapsed.Seconds()
}

// runOnce sets up a fresh target of e and runs the workload with churn c
// for d.
func runOnce(cfg *Config, e Engine, c Churn) (*sample, error) {
	runtime.GC() // start every run from the same heap, not the last run's garbage
	t, err := e.open(cfg)
	if err != nil {
		return nil, err
	}
	defer t.close()
	out := &sample{hist: new(Hist)}

	rf, remote := t.(remoteFaulter)
	if remote {
		if err := rf.warm(warmRounds); err != nil {
			return nil, fmt.Errorf("%s: warm-up: %w", e.Name, err)
		}
	}
	// F warms up alone, untimed.
	for range warmRounds {
		if remote {
			break
		}
		for i := range FPages {
			if err := t.touch(i); err != nil {
				return nil, fmt.Errorf("%s: warm-up fault: %w", e.Name, err)
			}
		}
		if err := t.drop(); err != nil {
			return nil, fmt.Errorf("%s: warm-up drop: %w", e.Name, err)
		}
	}

	var stop atomic.Bool
	wdone := make(chan error, 1)
	if c != ChurnNone {
		started := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			close(started)
			t0 := now()
			var ops uint64
			var err error
			// At least one step, even if F is done before W is
			// scheduled (a loaded machine, a very short --duration):
			// a churn row with no churn would measure nothing.
			for first := true; first || !stop.Load(); first = false {
				var n int
				n, err = step(c, t)
				ops += uint64(n)
				if err != nil {
					break
				}
			}
			out.ops, out.wElapsed = ops, now()-t0
			wdone <- err
		}()
		<-started
	} else {
		wdone <- nil
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0, alloc0 := ms.NumGC, ms.TotalAlloc
	ctr0, hasCtr := t.counters()
	fdone := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer stop.Store(true) // W stops when F does, error or not
		if remote {
			fdone <- rf.remoteFaultLoop(cfg.Duration, out)
			return
		}
		fdone <- faultLoop(t, cfg.Duration, out)
	}()
	ferr := <-fdone
	werr := <-wdone
	if err := errors.Join(ferr, werr); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", e.Name, c, err)
	}
	runtime.ReadMemStats(&ms)
	out.gcs = ms.NumGC - gc0
	out.allocBytes = ms.TotalAlloc - alloc0
	out.frames, out.hasFrames = t.frames()
	if ctr1, _ := t.counters(); hasCtr {
		out.ctr, out.hasCtr = ctr1.sub(ctr0), true
	}
	out.drop = t.dropMethod()
	return out, nil
}

// faultLoop is F: it faults every page of its area in, timing each fault,
// drops them all, and again, for d. It checks the clock once per round.
func faultLoop(t target, d time.Duration, out *sample) error {
	h := out.hist
	start := now()
	deadline := start + d
	var faults uint64
	for {
		for i := range FPages {
			t0 := now()
			if err := t.touch(i); err != nil {
				return fmt.Errorf("fault on page %d: %w", i, err)
			}
			h.Record(int64(now() - t0))
		}
		faults += FPages
		if err := t.drop(); err != nil {
			return fmt.Errorf("drop: %w", err)
		}
		if now() >= deadline {
			break
		}
	}
	out.faults, out.fElapsed = faults, now()-start
	return nil
}

// Run runs every engine × churn of cfg Reps times, interleaved: each
// repetition runs every combination once, in an order shuffled afresh, so
// that drift hits all combinations alike.
func Run(cfg Config) (*Report, error) {
	if cfg.Reps < 1 || cfg.Duration <= 0 || len(cfg.Engines) == 0 || len(cfg.Churns) == 0 {
		return nil, errors.New("bench: need reps >= 1, duration > 0, an engine and a churn")
	}
	// combo names an engine by its index in cfg.Engines (Engine holds a
	// func, so it cannot be a map key).
	type combo struct {
		e int
		c Churn
	}
	var combos []combo
	for i := range cfg.Engines {
		for _, c := range cfg.Churns {
			combos = append(combos, combo{i, c})
		}
	}
	load0 := loadAvg()
	samples := make(map[combo][]*sample)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x76d))
	for rep := range cfg.Reps {
		order := append([]combo(nil), combos...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			e := cfg.Engines[k.e]
			s, err := runOnce(&cfg, e, k.c)
			if err != nil {
				return nil, err
			}
			samples[k] = append(samples[k], s)
			if cfg.Progress != nil {
				cfg.Progress(rep+1, e.Name, k.c, s.faultsPerS())
			}
		}
	}
	rep := newReport(&cfg)
	rep.LoadBefore, rep.LoadAfter = load0, loadAvg()
	for _, k := range combos {
		var none []*sample
		if k.c != ChurnNone {
			none = samples[combo{k.e, ChurnNone}]
		}
		rep.Results = append(rep.Results, summarizeRuns(cfg.Engines[k.e].Name, k.c, samples[k], none))
	}
	return rep, nil
}
