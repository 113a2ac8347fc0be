package main

import (
	"math"

	"gonum.org/v1/plot"
)

// percentileTicks labels a 1/(1-q) axis with percentiles: 50% at 2, 90% at
// 10, 99% at 100 and so on, as HdrHistogram plots do.
type percentileTicks struct{}

var _ plot.Ticker = percentileTicks{}

func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	labels := []string{"", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%", "99.99999%"}
	var ts []plot.Tick
	for i, l := range labels {
		v := math.Pow(10, float64(i))
		if l == "" || v < min || v > max {
			continue // 0% (at 1) would crowd 50% (at 2)
		}
		ts = append(ts, plot.Tick{Value: v, Label: l})
	}
	if 2 >= min && 2 <= max {
		ts = append(ts, plot.Tick{Value: 2, Label: "50%"})
	}
	return ts
}

// latencyTicks labels a log latency axis in ns with time units at each
// power of ten.
type latencyTicks struct{}

var _ plot.Ticker = latencyTicks{}

func (latencyTicks) Ticks(min, max float64) []plot.Tick {
	labels := []string{"1ns", "10ns", "100ns", "1µs", "10µs", "100µs", "1ms", "10ms", "100ms", "1s", "10s"}
	var ts []plot.Tick
	for i, l := range labels {
		v := math.Pow(10, float64(i))
		if v >= min/10 && v <= max*10 {
			ts = append(ts, plot.Tick{Value: v, Label: l})
		}
	}
	return ts
}
