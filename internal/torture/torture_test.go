package torture

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/vmspace/vmspace/internal/lockcheck"
)

var (
	tortureDuration = flag.Duration("torture.duration", 0, "how long TestTorture runs (default 20s, 4s with -short, 8s with the lock validator)")
	tortureSeed     = flag.Uint64("torture.seed", 0, "seed (default: from the clock; printed)")
)

// TestTorture runs the torture for a bounded time and requires no
// violation and no stall. It runs every configuration at least twice
// (with and without the operations that move contents).
func TestTorture(t *testing.T) {
	d := *tortureDuration
	if d == 0 {
		switch {
		case testing.Short():
			d = 4 * time.Second
		case lockcheck.Enabled:
			d = 8 * time.Second
		default:
			d = 20 * time.Second
		}
	}
	seed := *tortureSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	var log bytes.Buffer
	r, err := Run(Config{Duration: d, Goroutines: 4, Seed: seed, Phase: d / 8, Log: &log})
	var out bytes.Buffer
	if r != nil {
		r.WriteTo(&out)
	}
	t.Logf("seed %d\n%s", seed, out.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if r.Violations != 0 {
		t.Fatalf("%d violations", r.Violations)
	}
	for _, c := range r.Configs {
		if c.Phases == 0 {
			t.Errorf("configuration %s never ran", c.Name)
		}
	}
	for _, o := range r.Ops {
		if o.OK+o.Failed+o.Unsupported == 0 {
			t.Errorf("operation %s never ran", o.Name)
		}
	}
}
