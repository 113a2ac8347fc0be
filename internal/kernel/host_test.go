//go:build linux && (amd64 || arm64)

package kernel_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/vmspace/vmspace/internal/kernel"
	"golang.org/x/sys/unix"
)

// TestProbeHost: the probe answers, says how it decided, and its answer
// holds for a fresh mapping read-faulted again, judged by the other
// method (mincore is no help: both a zero-page and a real page are
// resident). It logs the host, so a CI log shows what was compared.
func TestProbeHost(t *testing.T) {
	if !kernel.Supported() {
		t.Skip("the host probe needs Linux with 4 KiB pages")
	}
	h, err := kernel.ProbeHost()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(h)
	if h.ZeroPageHow == "" || h.Release == "" || h.MaxMapCount <= 0 || h.StackGuardGap == 0 || h.TaskSize == 0 {
		t.Fatalf("probe left fields empty: %+v", h)
	}
	if h.THPMayApply() && !h.THPDisabled {
		t.Errorf("THP may apply (%s) but was not disabled for the process", h.THP)
	}
	// Independent check of the zero-page answer: read one page of a
	// fresh private mapping and see whether the process's resident set
	// grew by it (VmRSS counts real pages, never the zero page), over
	// enough pages that noise from the runtime cannot fake it.
	const n = 4096 // 16 MiB
	p, err := unix.MmapPtr(-1, 0, nil, n*4096, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.MunmapPtr(p, n*4096)
	before := rssKB(t)
	var sink byte
	for i := 0; i < n; i++ {
		sink += *(*byte)(unsafe.Add(p, i*4096))
	}
	grew := rssKB(t) - before
	// The sum is used, so the loads cannot be dropped as dead code (they
	// were, once: the check then passed on any zero-page host and failed
	// on every other).
	if sink != 0 {
		t.Fatalf("fresh anonymous memory reads as %#x", sink)
	}
	realPages := grew > n*4/2 // more than half of the 16 MiB became resident
	if realPages == h.ZeroPage {
		t.Fatalf("probe says zero page %v, but reading %d fresh pages grew VmRSS by %d kB", h.ZeroPage, n, grew)
	}
}

func rssKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
