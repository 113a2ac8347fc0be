package bench

import "slices"

// Summary is one figure over the repetitions of a run: its smallest,
// median and largest value. Reporting the spread next to the median shows
// at a glance whether two figures differ by more than the run-to-run noise.
type Summary struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// summarize returns the summary of xs (zero when xs is empty). The median
// of an even count is the mean of the two middle values.
func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{Min: s[0], Median: med, Max: s[n-1]}
}
