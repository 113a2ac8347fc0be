package bench

import (
	"os"
	"strconv"
	"strings"
)

// loadAvg returns the 1-minute load average (0 where /proc/loadavg is
// missing). Reports carry it because on a small machine anything else
// running skews every figure, and the load says whether something was.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
