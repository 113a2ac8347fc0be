package main

import (
	"bufio"
	"flag"
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
	onKernel := fs.Bool("kernel", false, "run against the real kernel (Linux only)")
	whole := fs.Bool("whole-space", false, "use the whole-space lock mode")
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
		return script.Run(e, os.Stdin, out)
	}
	mode := mm.PerArea
	if *whole {
		mode = mm.WholeSpace
	}
	e, err := replay.New(mode, true)
	if err != nil {
		return err
	}
	defer e.S.Close()
	return script.Run(e, os.Stdin, out)
}
