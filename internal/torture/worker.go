package torture

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/lockcheck"
	"github.com/vmspace/vmspace/internal/mm"
)

// opCount counts one kind of operation by outcome.
type opCount struct {
	OK, Failed, Unsupported uint64
}

// worker runs random operations until its phase stops.
type worker struct {
	id  int
	rng *rand.Rand
	ph  *phase
	// beat is the watchdog's heartbeat: bumped after every operation.
	beat *heartbeat
	// counts are written by the worker only and read after it stopped.
	counts []opCount
	ctr    uint32 // the values written by write-own
	buf    []byte
}

func newWorker(id int, seed uint64, ph *phase, beat *heartbeat) *worker {
	return &worker{
		id:     id,
		rng:    rand.New(rand.NewPCG(seed, uint64(id)+1)),
		ph:     ph,
		beat:   beat,
		buf:    make([]byte, 2*mm.PageSize),
		counts: make([]opCount, len(ops)),
	}
}

func (w *worker) violate(format string, args ...any) { w.ph.run.violate(format, args...) }

// loop runs operations until the phase stops.
func (w *worker) loop() {
	for !w.ph.stop.Load() {
		i := w.ph.pick(w.rng)
		t := w.ph.spaces[w.rng.IntN(len(w.ph.spaces))]
		res := ops[i].run(w, t)
		// A goroutine that finished a call holds no lock: a leaked area
		// read lock or space lock is a bug (checked with the validator).
		lockcheck.AssertNoneHeld()
		switch res {
		case ok:
			w.counts[i].OK++
		case failed:
			w.counts[i].Failed++
		case unsupported:
			w.counts[i].Unsupported++
			w.ph.disable(i)
		}
		w.beat.bump()
	}
}

// heartbeat tells the watchdog a goroutine is making progress.
type heartbeat struct {
	name string
	n    atomic.Uint64
	done atomic.Bool
}

func (h *heartbeat) bump() { h.n.Add(1) }
