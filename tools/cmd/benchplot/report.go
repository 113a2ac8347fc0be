package main

// report is the part of `vmspace bench --json` that the plot needs. It is
// declared here rather than imported so that the tools module does not
// depend on the library's internals; the JSON is the interface.
type report struct {
	Command string   `json:"command"`
	Kernel  string   `json:"kernel"`
	CPUs    int      `json:"cpus"`
	Reps    int      `json:"reps"`
	Results []result `json:"results"`
}

type result struct {
	Engine  string  `json:"engine"`
	Churn   string  `json:"churn"`
	Latency latency `json:"latency"`
}

// latency holds the merged histogram: buckets are [lo, hi, count], ns.
type latency struct {
	Count   uint64      `json:"count"`
	Buckets [][3]uint64 `json:"buckets"`
}
