package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace/uffd"
)

func TestMain(m *testing.M) {
	if os.Getenv(EnvBenchClient) != "" {
		if err := BenchClientMain(); err != nil {
			fmt.Fprintln(os.Stderr, "bench client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestUffdEnginesSmoke runs the three uffd engines briefly, idle and
// under churn: a client process really faults through userfaultfd, and
// every engine reports faults, latencies and handler CPU.
func TestUffdEnginesSmoke(t *testing.T) {
	fd, _, err := uffd.Open(0, 0)
	if err != nil {
		t.Skipf("userfaultfd not permitted here: %v", err)
	}
	unix.Close(fd)
	rep, err := Run(Config{Duration: 30 * time.Millisecond, Reps: 1, Engines: UffdEngines,
		Churns: []Churn{ChurnNone, ChurnConflictSplit}, Areas: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Faults == 0 || r.P50.Median <= 0 || r.HandlerCPUNsPerFault == nil {
			t.Errorf("%s/%s: %d faults, p50 %v, handler CPU %v", r.Engine, r.Churn, r.Faults, r.P50.Median, r.HandlerCPUNsPerFault)
		}
	}
}
