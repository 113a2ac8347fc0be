package torture

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStall is returned when the watchdog saw a goroutine make no progress
// for Config.Stall: a deadlock or a livelock. The stuck goroutines are left
// behind; the stacks of all goroutines went to Config.Log.
var ErrStall = errors.New("torture: no progress: deadlock or livelock (goroutine stacks written to the log)")

// minPhases is the least number of phases a run has.
const minPhases = 2 * len(configs)

// maxKeptViolations bounds the violation messages kept for the report.
const maxKeptViolations = 20

// runState is what a run shares between its phases and goroutines.
type runState struct {
	cfg Config

	mu         sync.Mutex
	violations uint64   // guarded by mu
	messages   []string // guarded by mu
	beats      []*heartbeat

	injected atomic.Uint64 // tree allocation failures injected
	inPlace  atomic.Uint64 // layout changes that wrote a tree leaf in place
	checks   atomic.Uint64 // invariant checks run

	// stalled is closed by the watchdog when it reports a stall.
	stalled chan struct{}

	// Written between phases by the controlling goroutine only.
	counts  []opCount
	configs [len(configs)]ConfigStat
}

func (rs *runState) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.violations++
	if len(rs.messages) < maxKeptViolations {
		rs.messages = append(rs.messages, msg)
	}
}

// beat registers a goroutine with the watchdog.
func (rs *runState) beat(name string) *heartbeat {
	h := &heartbeat{name: name}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.beats = append(rs.beats, h)
	return h
}

// liveBeats returns the heartbeats of goroutines still running, and drops
// the others.
func (rs *runState) liveBeats() []*heartbeat {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	live := rs.beats[:0]
	for _, h := range rs.beats {
		if !h.done.Load() {
			live = append(live, h)
		}
	}
	clear(rs.beats[len(live):])
	rs.beats = live
	return append([]*heartbeat(nil), live...)
}

// await runs fn in a goroutine watched by the watchdog and waits for it,
// or for a stall. fn bumps the beat it is given as it makes progress.
func (rs *runState) await(name string, fn func(beat *heartbeat)) error {
	beat := rs.beat(name)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer beat.done.Store(true)
		fn(beat)
	}()
	select {
	case <-done:
		return nil
	case <-rs.stalled:
		return ErrStall
	}
}

// Run runs the torture and returns its report. The error is ErrStall or a
// configuration error; violations are in the report.
func Run(cfg Config) (*Report, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rs := &runState{cfg: c, stalled: make(chan struct{}), counts: make([]opCount, len(ops))}
	stopWatchdog := rs.watchdog()
	defer stopWatchdog()

	start := time.Now()
	deadline := start.Add(c.Duration)
	phases := 0
	for i := 0; ; i++ {
		// At least two rounds of the four configurations, so that each
		// runs with and without the operations that move contents,
		// however slow the checks are (the lock validator is slow).
		left := time.Until(deadline)
		if left <= 0 && i >= minPhases {
			break
		}
		d := c.Phase
		if i >= minPhases {
			d = min(d, left)
		}
		fmt.Fprintf(c.Log, "torture: phase %d: %v for %v\n", i, configs[i%len(configs)], d.Round(time.Millisecond))
		if err := rs.runPhase(i, d); err != nil {
			return rs.report(time.Since(start), phases), err
		}
		phases++
	}
	return rs.report(time.Since(start), phases), nil
}
