package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
	"time"
)

// Report is the outcome of Run; --json prints it.
type Report struct {
	Command    string `json:"command,omitempty"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Kernel     string `json:"kernel,omitempty"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// GOGC is the GC target percentage the run had (-1: off).
	GOGC       int    `json:"gogc"`
	DurationNs int64  `json:"duration_ns"`
	Reps       int    `json:"reps"`
	FPages     int    `json:"f_pages"`
	Areas      int    `json:"areas"`
	Recycle    bool   `json:"recycle"`
	Seed       uint64 `json:"seed"`
	// LoadBefore and LoadAfter are the 1-minute load average at the start
	// and the end: well above 2 on two cores means something else ran.
	LoadBefore float64  `json:"load_before"`
	LoadAfter  float64  `json:"load_after"`
	Results    []Result `json:"results"`
}

// Result is one engine × churn over all repetitions. Figures measured per
// repetition are Summaries (min/median/max over the repetitions).
type Result struct {
	Engine string `json:"engine"`
	Churn  Churn  `json:"churn"`
	Reps   int    `json:"reps"`
	// Faults is the total over the repetitions.
	Faults     uint64  `json:"faults"`
	FaultsPerS Summary `json:"faults_per_s"`
	// RatioVsNone is faults/s over the same engine's faults/s without
	// churn in the same repetition (pairing by repetition cancels slow
	// drift). Absent when churn none was not run.
	RatioVsNone  *Summary `json:"ratio_vs_none"`
	P50          Summary  `json:"p50_ns"`
	P99          Summary  `json:"p99_ns"`
	P999         Summary  `json:"p999_ns"`
	ChurnOpsPerS Summary  `json:"churn_ops_per_s"`
	// Fallbacks are faults that per-area mode finished under the space
	// lock, over all repetitions; null for the kernel, whose counters are
	// not per process.
	Fallbacks *uint64   `json:"fallbacks"`
	Counters  *Counters `json:"counters,omitempty"`
	GCCycles  uint64    `json:"gc_cycles"`
	// AllocBytes is what the Go heap allocated over the repetitions
	// (runtime.MemStats.TotalAlloc), F, W and the engine together.
	AllocBytes uint64 `json:"alloc_bytes"`
	// Frames are the frame arena's counters at the end of the last
	// repetition; null for the kernel.
	Frames *Frames `json:"frames"`
	// Drop is how F dropped its pages.
	Drop string `json:"drop"`
	// HandlerCPUNsPerFault is the uffd engines' handler CPU time per
	// fault (all handler threads, the timed part only); absent for the
	// other engines.
	HandlerCPUNsPerFault *Summary `json:"handler_cpu_ns_per_fault,omitempty"`
	// Latency is the distribution of all repetitions merged.
	Latency Latency `json:"latency"`
}

// Latency describes a merged histogram; Buckets are [lo, hi, count] with
// lo and hi in ns, non-empty buckets only, for plots.
type Latency struct {
	Count   uint64      `json:"count"`
	MinNs   uint64      `json:"min_ns"`
	MeanNs  float64     `json:"mean_ns"`
	P50     uint64      `json:"p50_ns"`
	P90     uint64      `json:"p90_ns"`
	P99     uint64      `json:"p99_ns"`
	P999    uint64      `json:"p999_ns"`
	P9999   uint64      `json:"p9999_ns"`
	MaxNs   uint64      `json:"max_ns"`
	Buckets [][3]uint64 `json:"buckets"`
}

func newReport(cfg *Config) *Report {
	gogc := debug.SetGCPercent(-1) // the only way to read it
	debug.SetGCPercent(gogc)
	return &Report{GOGC: gogc,
		Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Kernel: kernelRelease(),
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		DurationNs: int64(cfg.Duration), Reps: cfg.Reps, FPages: FPages,
		Areas: cfg.Areas, Recycle: !cfg.NoRecycle, Seed: cfg.Seed,
	}
}

// summarizeRuns turns the samples of one engine × churn into a Result;
// none holds the same engine's samples without churn, by repetition.
func summarizeRuns(engine string, c Churn, runs, none []*sample) Result {
	r := Result{Engine: engine, Churn: c, Reps: len(runs)}
	var fps, ratio, p50, p99, p999, ops, hcpu []float64
	var merged Hist
	var ctr Counters
	hasCtr := false
	for i, s := range runs {
		r.Faults += s.faults
		fps = append(fps, s.faultsPerS())
		switch {
		case c == ChurnNone:
			ratio = append(ratio, 1)
		case i < len(none):
			ratio = append(ratio, s.faultsPerS()/none[i].faultsPerS())
		}
		p50 = append(p50, float64(s.hist.Quantile(0.5)))
		p99 = append(p99, float64(s.hist.Quantile(0.99)))
		p999 = append(p999, float64(s.hist.Quantile(0.999)))
		ops = append(ops, s.opsPerS())
		merged.Merge(s.hist)
		if s.hasCtr {
			ctr, hasCtr = ctr.add(s.ctr), true
		}
		r.GCCycles += uint64(s.gcs)
		r.AllocBytes += s.allocBytes
		if s.hasFrames {
			fr := s.frames
			r.Frames = &fr
		}
		if s.hasHandlerCPU && s.faults > 0 {
			hcpu = append(hcpu, float64(s.handlerCPU)/float64(s.faults))
		}
		r.Drop = s.drop
	}
	r.FaultsPerS = summarize(fps)
	if len(ratio) == len(runs) {
		sm := summarize(ratio)
		r.RatioVsNone = &sm
	}
	r.P50, r.P99, r.P999 = summarize(p50), summarize(p99), summarize(p999)
	r.ChurnOpsPerS = summarize(ops)
	if len(hcpu) == len(runs) {
		sm := summarize(hcpu)
		r.HandlerCPUNsPerFault = &sm
	}
	if hasCtr {
		r.Counters = &ctr
		fb := ctr.Fallback
		r.Fallbacks = &fb
	}
	r.Latency = Latency{
		Count: merged.Count(), MinNs: merged.Min(), MeanNs: merged.Mean(),
		P50: merged.Quantile(0.5), P90: merged.Quantile(0.9), P99: merged.Quantile(0.99),
		P999: merged.Quantile(0.999), P9999: merged.Quantile(0.9999), MaxNs: merged.Max(),
	}
	for _, b := range merged.Buckets() {
		r.Latency.Buckets = append(r.Latency.Buckets, [3]uint64{b.Lo, b.Hi, b.Count})
	}
	return r
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as a table: medians over the repetitions,
// with the faults/s range, and the fault-path counters per fault.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "page faults under layout churn: F faults %d pages and drops them, W churns; %d reps × %v per engine and churn, interleaved\n",
		r.FPages, r.Reps, time.Duration(r.DurationNs))
	fmt.Fprintf(w, "%s %s/%s, %d CPUs, GOMAXPROCS %d, GOGC %d, kernel %s, load %.2f -> %.2f; vmspace: %d background areas, recycling %v\n",
		r.Go, r.OS, r.Arch, r.CPUs, r.GOMAXPROCS, r.GOGC, r.Kernel, r.LoadBefore, r.LoadAfter, r.Areas, r.Recycle)
	fmt.Fprintln(w, "figures are medians over reps; faults/s also min-max; counters are per 1000 faults")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tchurn\tfaults/s\tmin-max\tvs none\tp50\tp99\tp99.9\tW ops/s\th.cpu/f\tsuccess\tfallback\tretry\tabort\tmiss\tGCs\t")
	for _, x := range r.Results {
		ratio := "-"
		if x.RatioVsNone != nil {
			ratio = fmt.Sprintf("%.3f", x.RatioVsNone.Median)
		}
		wops := "-"
		if x.Churn != ChurnNone {
			wops = si(x.ChurnOpsPerS.Median)
		}
		hc := "-"
		if x.HandlerCPUNsPerFault != nil {
			hc = ns(x.HandlerCPUNsPerFault.Median)
		}
		su, fb, re, ab, mi := "-", "-", "-", "-", "-"
		if c := x.Counters; c != nil && x.Faults > 0 {
			per := func(n uint64) string { return fmt.Sprintf("%.2f", 1000*float64(n)/float64(x.Faults)) }
			su, fb, re, ab, mi = per(c.Success), per(c.Fallback), per(c.Retry), per(c.Abort), per(c.Miss)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s-%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			x.Engine, x.Churn, si(x.FaultsPerS.Median), si(x.FaultsPerS.Min), si(x.FaultsPerS.Max), ratio,
			ns(x.P50.Median), ns(x.P99.Median), ns(x.P999.Median), wops, hc, su, fb, re, ab, mi, x.GCCycles)
	}
	return tw.Flush()
}

// si formats a rate with a k/M suffix.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// ns formats a latency in ns, µs or ms.
func ns(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fms", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fµs", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fµs", v/1e3)
	}
	return fmt.Sprintf("%.0fns", v)
}
