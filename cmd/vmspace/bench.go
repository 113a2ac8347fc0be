package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/vmspace/vmspace/internal/bench"
)

func init() {
	register("bench", "page faults under layout churn: per-area, whole-space and the real kernel side by side", runBench)
}

// runBench runs the page-fault-under-churn workload (package
// internal/bench) and prints a table, or with --json the report as JSON.
// With the defaults it takes about a minute: 3 engines × 6 churns × 5
// reps × 0.6 s.
func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	dur := fs.Duration("duration", 600*time.Millisecond, "how long F faults in each engine × churn × rep")
	reps := fs.Int("reps", 5, "repetitions; each runs every engine × churn once, in a shuffled order")
	engines := fs.String("engines", "all", "comma-separated engines: per-area, whole-space, kernel, uffd-per-area, uffd-whole-space, uffd-minimal; \"all\" is the first three, \"uffd\" the last three")
	churns := fs.String("churn", "all", "comma-separated churns: none, unrelated, adjacent, adjmerge, conflict, conflictsplit")
	areas := fs.Int("areas", 100, "background areas in the vmspace engines' spaces")
	recycle := fs.Bool("recycle", true, "recycle freed areas in the vmspace engines")
	seed := fs.Uint64("seed", 1, "seed of the run order")
	asJSON := fs.Bool("json", false, "print the report as one JSON object instead of a table")
	jsonFile := fs.String("json-file", "", "also write the JSON report to `FILE`")
	plot := fs.String("plot", "", "also draw the latency distributions to `FILE` (.png or .svg) with tools/cmd/benchplot (needs the go command and the repository's tools/ module)")
	quiet := fs.Bool("quiet", false, "no progress lines on standard error")
	gogc := fs.Int("gogc", 0, "GC target percentage for the run (debug.SetGCPercent); 0 keeps the runtime's (GOGC, default 100)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE` (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vmspace bench [flags]\n\nF faults the pages of its 64-page area in (writes) and drops them, again and again;\nW changes the layout at the same time. Engines:")
		for _, e := range append(bench.Engines[:len(bench.Engines):len(bench.Engines)], bench.UffdEngines...) {
			fmt.Fprintf(fs.Output(), "  %-12s %s\n", e.Name, e.Doc)
		}
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage is printed; asking for it is no failure
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	es, err := bench.ParseEngines(*engines)
	if err != nil {
		return err
	}
	if *engines == "all" && runtime.GOOS != "linux" {
		es = es[:len(es)-1] // the kernel engine is Linux only; asked for by name it fails instead
		fmt.Fprintln(os.Stderr, "vmspace bench: skipping the kernel engine: Linux only")
	}
	cs, err := bench.ParseChurns(*churns)
	if err != nil {
		return err
	}
	cfg := bench.Config{
		Duration: *dur, Reps: *reps, Engines: es, Churns: cs,
		Areas: *areas, NoRecycle: !*recycle, Seed: *seed,
	}
	if !*quiet {
		total := *reps * len(es) * len(cs)
		n := 0
		// On a terminal each line overwrites the last; in a log each
		// stays.
		eol := "\n"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			eol = "\x1b[K\r"
		}
		cfg.Progress = func(rep int, engine string, c bench.Churn, fps float64) {
			n++
			fmt.Fprintf(os.Stderr, "[%d/%d] rep %d %s/%s: %.0f faults/s%s", n, total, rep, engine, c, fps, eol)
			if n == total && eol != "\n" {
				fmt.Fprintln(os.Stderr)
			}
		}
	}
	if *gogc != 0 {
		// The vmspace engines allocate a 4 KiB page per fault into a heap
		// that is otherwise nearly empty, so at the default target the
		// collector runs hundreds of times a second; a higher target
		// shows the locking with less of the collector in the way.
		debug.SetGCPercent(*gogc)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	rep, err := bench.Run(cfg)
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	rep.Command = "vmspace bench " + strings.Join(args, " ")
	if *asJSON {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteTable(os.Stdout)
	}
	if err != nil {
		return err
	}
	if *jsonFile != "" {
		f, err := os.Create(*jsonFile)
		if err != nil {
			return err
		}
		if err := rep.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *plot != "" {
		return plotReport(rep, *plot)
	}
	return nil
}

// plotReport draws rep with tools/cmd/benchplot. Plotting lives in the
// separate tools module so that its dependencies (gonum.org/v1/plot and
// its fonts and image libraries) stay out of the library's go.mod; the
// price is that --plot needs the go command and a checkout of the
// repository, found by walking up from the working directory.
func plotReport(rep *bench.Report, file string) error {
	tools, err := findTools()
	if err != nil {
		return err
	}
	out, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		return err
	}
	cmd := exec.Command("go", "run", "./cmd/benchplot", "-o", out)
	cmd.Dir = tools
	cmd.Stdin = &js
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("plot: go run ./cmd/benchplot in %s: %w", tools, err)
	}
	fmt.Fprintln(os.Stderr, "vmspace bench: wrote", file)
	return nil
}

// findTools returns the repository's tools/ module directory.
func findTools() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "tools", "go.mod"))
		if err == nil && bytes.Contains(mod, []byte("module github.com/vmspace/vmspace/tools")) {
			return filepath.Join(dir, "tools"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("plot: no tools/go.mod of github.com/vmspace/vmspace/tools above the working directory; run from the repository, or pipe --json into tools/cmd/benchplot")
		}
		dir = parent
	}
}

// benchClientMain runs this process as the uffd engines' client when the
// environment asks for it, and reports whether it did.
func benchClientMain() bool {
	if os.Getenv(bench.EnvBenchClient) == "" {
		return false
	}
	if err := bench.BenchClientMain(); err != nil {
		fmt.Fprintln(os.Stderr, "bench uffd client:", err)
		os.Exit(1)
	}
	return true
}
