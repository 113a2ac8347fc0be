package bench

import (
	"bytes"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmspace/vmspace/internal/mm"
)

func TestStepRestoresLayout(t *testing.T) {
	for _, c := range Churns[1:] {
		t.Run(string(c), func(t *testing.T) {
			tg, err := openPerArea(&Config{Areas: 10})
			if err != nil {
				t.Fatal(err)
			}
			defer tg.close()
			s := tg.(*vmTarget).s
			for i := range FPages {
				if err := tg.touch(i); err != nil {
					t.Fatal(err)
				}
			}
			before := s.Maps()
			for range 3 {
				if n, err := step(c, tg); err != nil || n != 2 {
					t.Fatalf("step: %d calls, %v", n, err)
				}
			}
			if after := s.Maps(); !slices.Equal(before, after) {
				t.Fatalf("layout changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestDropEmptiesF(t *testing.T) {
	tg, err := openWholeSpace(&Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	s := tg.(*vmTarget).s
	for i := range FPages {
		if err := tg.touch(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.drop(); err != nil {
		t.Fatal(err)
	}
	present, err := s.Mincore(vmRegion+fOff, fLen)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(present, true); i >= 0 {
		t.Fatalf("page %d present after drop (%s)", i, tg.dropMethod())
	}
	if s.Mode() != mm.WholeSpace {
		t.Fatal("whole-space engine in per-area mode")
	}
}

func TestRunSmoke(t *testing.T) {
	engines := Engines
	if runtime.GOOS != "linux" {
		engines = engines[:2] // no kernel engine
	}
	rep, err := Run(Config{Duration: 2 * time.Millisecond, Reps: 2, Engines: engines, Churns: Churns, Areas: 5, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(engines)*len(Churns) {
		t.Fatalf("%d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Reps != 2 || r.Faults == 0 || r.FaultsPerS.Min <= 0 || r.FaultsPerS.Min > r.FaultsPerS.Max {
			t.Errorf("%s/%s: %+v", r.Engine, r.Churn, r)
		}
		if r.Latency.Count != r.Faults || r.P50.Median > r.P999.Median {
			t.Errorf("%s/%s: latency %+v", r.Engine, r.Churn, r.Latency)
		}
		if r.RatioVsNone == nil || (r.Churn == ChurnNone && r.RatioVsNone.Median != 1) {
			t.Errorf("%s/%s: ratio %+v", r.Engine, r.Churn, r.RatioVsNone)
		}
		if r.Churn != ChurnNone && r.ChurnOpsPerS.Min <= 0 {
			t.Errorf("%s/%s: W did nothing", r.Engine, r.Churn)
		}
		if (r.Engine == "kernel") != (r.Counters == nil) || (r.Counters == nil) != (r.Fallbacks == nil) {
			t.Errorf("%s/%s: counters %v", r.Engine, r.Churn, r.Counters)
		}
		if (r.Counters == nil) != (r.Frames == nil) || r.Frames != nil && (r.Frames.Frames == 0 || r.Frames.Bytes != 4096*r.Frames.Frames || r.Frames.Free > r.Frames.Frames) {
			t.Errorf("%s/%s: frames %+v", r.Engine, r.Churn, r.Frames)
		}
		if r.AllocBytes == 0 && r.GCCycles > 0 {
			t.Errorf("%s/%s: %d GC cycles with nothing allocated", r.Engine, r.Churn, r.GCCycles)
		}
		if r.Engine == "whole-space" && r.Counters.SpaceLocked != r.Faults {
			t.Errorf("whole-space/%s: %d faults, %d under the space lock", r.Churn, r.Faults, r.Counters.SpaceLocked)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var generic struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(js.Bytes(), &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"engine", "churn", "faults_per_s", "ratio_vs_none", "p50_ns", "p99_ns", "p999_ns", "churn_ops_per_s", "fallbacks"} {
		if _, ok := generic.Results[0][k]; !ok {
			t.Errorf("JSON result lacks %q", k)
		}
	}
	var tab bytes.Buffer
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tab.String(), "conflictsplit") {
		t.Fatalf("table:\n%s", tab.String())
	}
}

func TestParse(t *testing.T) {
	if cs, err := ParseChurns("none, conflict"); err != nil || !slices.Equal(cs, []Churn{ChurnNone, ChurnConflict}) {
		t.Fatalf("ParseChurns: %v %v", cs, err)
	}
	if _, err := ParseChurns("nope"); err == nil {
		t.Fatal("ParseChurns accepted nope")
	}
	if es, err := ParseEngines("kernel,per-area"); err != nil || len(es) != 2 || es[0].Name != "kernel" {
		t.Fatalf("ParseEngines: %v", err)
	}
	if _, err := ParseEngines("gvisor"); err == nil {
		t.Fatal("ParseEngines accepted gvisor")
	}
	if es, _ := ParseEngines("all"); len(es) != len(Engines) {
		t.Fatal("all is not all")
	}
}

func TestSummarize(t *testing.T) {
	if s := summarize([]float64{3, 1, 2}); s != (Summary{1, 2, 3}) {
		t.Fatalf("%+v", s)
	}
	if s := summarize([]float64{4, 1, 2, 3}); s != (Summary{1, 2.5, 4}) {
		t.Fatalf("%+v", s)
	}
	if s := summarize(nil); s != (Summary{}) {
		t.Fatalf("%+v", s)
	}
}
