package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/vmspace/vmspace/internal/kernel"
	"github.com/vmspace/vmspace/internal/mm"
	"github.com/vmspace/vmspace/internal/replay"
	"github.com/vmspace/vmspace/internal/script"
)

func init() {
	register("replay", "run an oracle script from stdin on vmspace (or --kernel: on the real kernel)", runReplay)
}

func runReplay(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	onKernel := fs.Bool("kernel", false, "run against the real kernel (Linux only); the host's settings are printed on stderr")
	whole := fs.Bool("whole-space", false, "use the whole-space lock mode")
	zeroPage := fs.Bool("zero-page", true, "read faults on private anonymous memory map the shared zero page (false: they allocate, as on a kernel that never maps it)")
	likeHost := fs.Bool("like-host", false, "configure vmspace as the kernel of this machine behaves (zero page, overcommit, limits), printed on stderr; overrides --zero-page")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if *onKernel {
		e, err := kernel.New()
		if err != nil {
			return err
		}
		defer e.Close()
		h, _ := kernel.ProbeHost()
		fmt.Fprintln(os.Stderr, h)
		for _, m := range h.Unmatched() {
			fmt.Fprintln(os.Stderr, "warning: vmspace cannot match this:", m)
		}
		return script.Run(e, os.Stdin, out)
	}
	o := replay.Options{Mode: mm.PerArea, Recycle: true, NoZeroPage: !*zeroPage}
	if *whole {
		o.Mode = mm.WholeSpace
	}
	if *likeHost {
		h, err := kernel.ProbeHost()
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, h)
		ho := replay.HostOptions(h)
		ho.Mode, ho.Recycle = o.Mode, o.Recycle
		o = ho
	}
	e, err := replay.NewWith(o)
	if err != nil {
		return err
	}
	defer e.Close()
	return script.Run(e, os.Stdin, out)
}
