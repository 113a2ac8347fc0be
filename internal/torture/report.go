package torture

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/vmspace/vmspace/internal/mm"
)

// Report is the outcome of a run.
type Report struct {
	Duration   time.Duration // measured, all phases and checks included
	Goroutines int
	Seed       uint64
	Phases     int
	// Ops counts the operations run, per kind.
	Ops []OpStat
	// Configs has the fault-path counters summed per configuration.
	Configs []ConfigStat
	// InjectedFailures counts tree node allocations made to fail.
	InjectedFailures uint64
	// InPlaceWrites counts layout changes that wrote a tree leaf in
	// place (only spaces without the allocation failpoint can).
	InPlaceWrites uint64
	// Checks counts invariant checks (concurrent and quiesced).
	Checks uint64
	// Violations counts everything found wrong; Messages holds the first.
	Violations uint64
	Messages   []string
}

// OpStat counts one kind of operation.
type OpStat struct {
	Name string
	opCount
}

// ConfigStat sums the phases run in one configuration.
type ConfigStat struct {
	Name   string
	Phases int
	Stats  mm.Stats
}

// TotalOps is the number of operations run, of every kind.
func (r *Report) TotalOps() uint64 {
	var n uint64
	for _, o := range r.Ops {
		n += o.OK + o.Failed + o.Unsupported
	}
	return n
}

func (rs *runState) report(d time.Duration, phases int) *Report {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := &Report{
		Duration:         d,
		Goroutines:       rs.cfg.Goroutines,
		Seed:             rs.cfg.Seed,
		Phases:           phases,
		InjectedFailures: rs.injected.Load(),
		InPlaceWrites:    rs.inPlace.Load(),
		Checks:           rs.checks.Load(),
		Violations:       rs.violations,
		Messages:         append([]string(nil), rs.messages...),
	}
	for i := range ops {
		r.Ops = append(r.Ops, OpStat{ops[i].name, rs.counts[i]})
	}
	for i, c := range rs.configs {
		c.Name = configs[i].String()
		r.Configs = append(r.Configs, c)
	}
	return r
}

// WriteTo writes the report as a table.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	fmt.Fprintf(cw, "torture: %v, %d goroutines, seed %d, %d phases, %d operations (%.0f/s)\n",
		r.Duration.Round(time.Millisecond), r.Goroutines, r.Seed, r.Phases, r.TotalOps(),
		float64(r.TotalOps())/r.Duration.Seconds())
	tw := tabwriter.NewWriter(cw, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tok\tfailed\tunsupported\t")
	for _, o := range r.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", o.Name, o.OK, o.Failed, o.Unsupported)
	}
	tw.Flush()
	fmt.Fprintln(cw)
	tw = tabwriter.NewWriter(cw, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "configuration\tphases\tsuccess\tabort\tretry\tmiss\tfallback\tspace-locked\t")
	for _, c := range r.Configs {
		s := c.Stats
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", c.Name, c.Phases, s.Success, s.Abort, s.Retry, s.Miss, s.Fallback, s.SpaceLocked)
	}
	tw.Flush()
	fmt.Fprintf(cw, "\ninjected allocation failures: %d\nin-place leaf writes: %d\ninvariant checks: %d\nviolations: %d\n", r.InjectedFailures, r.InPlaceWrites, r.Checks, r.Violations)
	for _, m := range r.Messages {
		fmt.Fprintf(cw, "  %s\n", m)
	}
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
