//go:build unix

package vmspace_test

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time this process has used, user and system,
// all threads (the GC's workers included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process CPU time per op since start as cpu-ns/op.
// On a machine that other jobs share, wall time per op (ns/op) includes the
// time this process waited for a CPU; CPU time does not, and it does
// include the collector's work on the other core, so it is the steadier
// measure of what an op costs. Only for loops that do not stop the timer.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}
