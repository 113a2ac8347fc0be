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
	h := needKernel(t)
	if !strings.HasPrefix(h.Release, "6.18.") {
		t.Skipf("the answers were recorded on Linux 6.18; this is %q", h.Release)
	}
	if !h.ZeroPage {
		t.Skip("the regress and extra answers were recorded on a host that maps the zero page, and this one never does; TestScriptsOnLiveKernel compares vmspace, configured like this host, with its kernel instead")
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
				got := kernelTranscript(t, string(in))
				if g := strings.Join(got, "\n") + "\n"; g != string(want) {
					t.Errorf("the kernel answers differently from the recorded .out:\n%s", diff(string(want), g))
				}
			})
		}
	}
}

// TestScriptsOnLiveKernel runs every oracle script (all directories) on
// this machine's kernel and on vmspace configured like it (the host probe:
// zero page or not, overcommit, limits), and compares the two live, so
// that vmspace answers like whatever host runs the suite, whether or not
// answers were recorded for a host like it.
func TestScriptsOnLiveKernel(t *testing.T) {
	h := needKernel(t)
	for _, dir := range oracleDirs {
		scripts, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
		for _, path := range scripts {
			t.Run(strings.TrimPrefix(path, "../../testdata/oracle/"), func(t *testing.T) {
				in, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				want := kernelTranscript(t, string(in))
				o := HostOptions(h)
				o.Recycle = true
				got, execOnly := runSpaceWith(t, string(in), o)
				for i := range want {
					if i >= len(got) || !sameAnswer(want[i], got[i], execOnly[i]) {
						t.Fatalf("vmspace (like the host) disagrees with the kernel:\n%s", diff(strings.Join(want, "\n"), strings.Join(got, "\n")))
					}
				}
			})
		}
	}
}

// kernelTranscript runs a recorded script on this machine's kernel. It
// skips a script whose heap needs this process's break when that is not
// free, and fails if the engine refuses a call.
func kernelTranscript(t *testing.T, src string) []string {
	t.Helper()
	out, err := runKernelErr(t, src)
	if errors.Is(err, kernel.ErrNoBrk) {
		t.Skip("the script's heap needs this process's break, which is not free here (a -race build's glibc uses it)")
	}
	if err != nil {
		t.Fatalf("the kernel engine refused a call: %v", err)
	}
	return out
}
