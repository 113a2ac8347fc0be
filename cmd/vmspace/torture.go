package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vmspace/vmspace/internal/torture"
	"github.com/vmspace/vmspace/internal/uffdtorture"
)

func init() {
	register("torture", "random concurrent operations in every lock mode, with invariant, content and deadlock checks (--uffd: real faults)", runTorture)
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
	fs.IntVar(&c.Pages, "pages", 0, "window size in pages (default 48; with --uffd: per client, default 2048)")
	fs.DurationVar(&c.Stall, "stall", 0, "no progress for this long is a deadlock (default 10s)")
	fs.IntVar(&c.FailAllocOneIn, "fail-alloc", 0, "fail one tree allocation in N (default 400; negative: never)")
	fs.BoolVar(&c.NoChaos, "no-chaos", false, "do not yield at the fault path's hook points")
	verbose := fs.Bool("v", false, "print each phase as it starts")
	withUffd := fs.Bool("uffd", false, "instead: real page faults through userfaultfd (Linux): threads of several client processes read and write pages served by this process while drops, protections, mremaps and hot-plugs race them from both sides and fills fail with injected EAGAIN; every page read is checked against a model")
	var u uffdtorture.Config
	fs.IntVar(&u.Clients, "clients", 3, "with --uffd: client processes")
	fs.IntVar(&u.Threads, "threads", 4, "with --uffd: touching threads per client")
	fs.IntVar(&u.EAGAINOneIn, "eagain", 16, "with --uffd: fail one fill in N with EAGAIN (negative: never)")
	fs.DurationVar(&u.Generation, "generation", 4*time.Second, "with --uffd: how long one client process lives before it is started again (a fresh space, handler and image)")
	fs.IntVar(&u.Workers, "workers", 2, "with --uffd: fault-serving goroutines per client in the server")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *withUffd {
		u.Duration, u.Seed, u.Pages, u.Stall = c.Duration, c.Seed, c.Pages, c.Stall
		return runUffdTorture(u, *verbose)
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

// runUffdTorture is `vmspace torture --uffd` (package
// internal/uffdtorture). The last line sums up; the exit status is 1 on
// any violation, a stuck thread or a client that died.
func runUffdTorture(c uffdtorture.Config, verbose bool) error {
	c.Log = os.Stderr
	if !verbose {
		c.Log = serverQuiet{}
	}
	fmt.Printf("uffd torture: %d client processes x %d threads for %v, seed %d\n", max(c.Clients, 1), max(c.Threads, 1), c.Duration, c.Seed)
	r, err := uffdtorture.Run(c)
	if err != nil {
		return err
	}
	r.WriteTo(os.Stdout)
	if v := r.Violations(); v != 0 {
		return fmt.Errorf("%d violations", v)
	}
	return nil
}

// serverQuiet passes on everything but the server's per-client lines.
type serverQuiet struct{}

func (serverQuiet) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "server: ") && !strings.Contains(string(p), "handler: ") {
		return len(p), nil
	}
	return os.Stderr.Write(p)
}
