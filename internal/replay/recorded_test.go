package replay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmspace/vmspace/internal/kernel"
)

// TestRecordedAnswersAreTheKernels reruns the regression and extra scripts
// on this machine's kernel: their .out files must be what the kernel
// answers, never hand-written. It runs only on the kernel series that
// recorded them (6.18).
func TestRecordedAnswersAreTheKernels(t *testing.T) {
	needKernel(t)
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil || !strings.HasPrefix(string(rel), "6.18.") {
		t.Skipf("the answers were recorded on Linux 6.18; this is %q", strings.TrimSpace(string(rel)))
	}
	for _, dir := range oracleDirs[1:] {
		scripts, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
		for _, path := range scripts {
			t.Run(strings.TrimPrefix(path, "../../testdata/oracle/"), func(t *testing.T) {
				in, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(strings.TrimSuffix(path, ".txt") + ".out")
				if err != nil {
					t.Fatal(err)
				}
				got, err := runKernelErr(t, string(in))
				if errors.Is(err, kernel.ErrNoBrk) {
					t.Skip("the script's heap needs this process's break, which is not free here (a -race build's glibc uses it)")
				}
				if err != nil {
					t.Fatalf("the kernel engine refused a call: %v", err)
				}
				if g := strings.Join(got, "\n") + "\n"; g != string(want) {
					t.Errorf("the kernel answers differently from the recorded .out:\n%s", diff(string(want), g))
				}
			})
		}
	}
}
