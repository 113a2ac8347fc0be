package torture

import (
	"fmt"
	"io"
	"time"

	"github.com/vmspace/vmspace/internal/mm"
)

// Config sets up a run. The zero value of a field takes its default.
type Config struct {
	// Duration is the total time the workers run, over all phases.
	Duration time.Duration
	// Goroutines is the number of workers (at most MaxGoroutines).
	Goroutines int
	// Seed seeds the workers' random choices. Interleavings still vary
	// from run to run; the seed fixes only what each worker asks for.
	Seed uint64
	// Phase is how long one phase runs (default: Duration/8, at most 2 s,
	// so that a run covers the four configurations twice).
	Phase time.Duration
	// Pages is the size of each space's window, in pages: every
	// operation falls in it, so operations collide (default 48).
	Pages int
	// Stall is how long a goroutine may go without progress before the
	// watchdog declares a deadlock (default 10 s).
	Stall time.Duration
	// CheckEvery is the pause between two invariant checks of the
	// checker goroutine (default 2 ms).
	CheckEvery time.Duration
	// FailAllocOneIn injects a tree node allocation failure once in that
	// many allocations (0: default 400; negative: never).
	FailAllocOneIn int
	// NoChaos turns off the random yields at the fault path's hook
	// points, which widen the race windows.
	NoChaos bool
	// Log receives the watchdog's report and progress lines (nil:
	// discarded).
	Log io.Writer
}

// MaxGoroutines bounds Goroutines: worker w owns byte w of every page, and
// the values it writes must fit a byte.
const MaxGoroutines = 256

func (c Config) withDefaults() (Config, error) {
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Goroutines == 0 {
		c.Goroutines = 4
	}
	if c.Goroutines < 1 || c.Goroutines > MaxGoroutines {
		return c, fmt.Errorf("torture: goroutines %d not in [1, %d]", c.Goroutines, MaxGoroutines)
	}
	if c.Phase <= 0 {
		c.Phase = min(c.Duration/8, 2*time.Second)
		if c.Phase < 50*time.Millisecond {
			c.Phase = min(c.Duration, 50*time.Millisecond)
		}
	}
	if c.Pages == 0 {
		c.Pages = 48
	}
	if c.Pages < 4 {
		return c, fmt.Errorf("torture: window of %d pages is too small", c.Pages)
	}
	if c.Stall <= 0 {
		c.Stall = 10 * time.Second
	}
	if c.CheckEvery <= 0 {
		c.CheckEvery = 2 * time.Millisecond
	}
	if c.FailAllocOneIn == 0 {
		c.FailAllocOneIn = 400
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c, nil
}

// spaceConfig is one of the four configurations a phase runs in.
type spaceConfig struct {
	mode    mm.LockMode
	recycle bool
}

func (c spaceConfig) String() string {
	r := "recycle"
	if !c.recycle {
		r = "no-recycle"
	}
	return c.mode.String() + "/" + r
}

// configs are taken in turn, one per phase.
var configs = [...]spaceConfig{
	{mm.PerArea, true},
	{mm.WholeSpace, true},
	{mm.PerArea, false},
	{mm.WholeSpace, false},
}

// windowBase is where each space's window starts. Both spaces of a phase
// use the same addresses, so an area recycled from one space into the
// other may well cover the address a stale reader looks for.
const windowBase = 0x40000000
