package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vmspace/vmspace/internal/torture"
)

func init() {
	register("torture", "random concurrent operations in every lock mode, with invariant, content and deadlock checks", runTorture)
}

// runTorture runs internal/torture and prints its report. It fails (exit
// status 1) on any violation, and on a stall, after the watchdog printed
// every goroutine's stack.
func runTorture(args []string) error {
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	var c torture.Config
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "total running time, over all phases")
	fs.IntVar(&c.Goroutines, "goroutines", 4, "worker goroutines")
	fs.Uint64Var(&c.Seed, "seed", uint64(time.Now().UnixNano()), "seed of the workers' choices")
	fs.DurationVar(&c.Phase, "phase", 0, "length of one phase (default: duration/8, at most 2s)")
	fs.IntVar(&c.Pages, "pages", 0, "window size in pages (default 48)")
	fs.DurationVar(&c.Stall, "stall", 0, "no progress for this long is a deadlock (default 10s)")
	fs.IntVar(&c.FailAllocOneIn, "fail-alloc", 0, "fail one tree allocation in N (default 400; negative: never)")
	fs.BoolVar(&c.NoChaos, "no-chaos", false, "do not yield at the fault path's hook points")
	verbose := fs.Bool("v", false, "print each phase as it starts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.Log = os.Stderr
	if !*verbose {
		c.Log = stallOnly{}
	}
	r, err := torture.Run(c)
	if r != nil {
		r.WriteTo(os.Stdout)
	}
	if err != nil {
		return err
	}
	if r.Violations != 0 {
		return fmt.Errorf("%d violations", r.Violations)
	}
	return nil
}

// stallOnly passes on the watchdog's report and drops the progress lines.
type stallOnly struct{}

func (stallOnly) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "torture: phase ") {
		return len(p), nil
	}
	return os.Stderr.Write(p)
}
