package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/vmspace/vmspace/internal/shadow"
)

func init() {
	register("shadow", "run a program under ptrace, mirror its layout calls into vmspace, compare with /proc/PID/maps", runShadow)
}

func runShadow(args []string) error {
	fs := flag.NewFlagSet("shadow", flag.ContinueOnError)
	keep := fs.Bool("keep-going", false, "after a disagreement, rebuild the mirror from /proc/PID/maps and go on (default: stop mirroring, let the program finish)")
	trace := fs.Bool("trace", false, "print every mirrored call with both answers")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: vmspace shadow [--keep-going] [--trace] -- CMD [ARGS...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no command")
	}
	rep, code, err := shadow.Run(shadow.Options{Args: fs.Args(), KeepGoing: *keep, Trace: *trace})
	if err != nil {
		return err
	}
	os.Exit(rep.ExitStatus(code))
	return nil
}
