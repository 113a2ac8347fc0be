//go:build linux

package vmspace_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vmspace/vmspace/internal/bench"
	"golang.org/x/sys/unix"
)

// kernelFixture is n extra VMAs in this process, shaped like the vmspace
// fixtures' areas: areaPages read-write pages each, one every slotPages,
// in a region nothing else maps.
type kernelFixture struct {
	r   *bench.KernelRegion
	n   int
	mid uint64 // offset of VMA n/2, whose first page is present
}

var kernelFixtures = map[int]*kernelFixture{}

func getKernelFixture(b *testing.B, n int) *kernelFixture {
	if f := kernelFixtures[n]; f != nil {
		return f
	}
	if limit := maxMapCount(); limit > 0 && n+vmaCount()+1000 > limit {
		b.Skipf("%d VMAs would pass vm.max_map_count (%d)", n, limit)
	}
	r, err := bench.NewKernelRegion(uintptr(n+1) * slotPages * pg)
	if err != nil {
		b.Skip(err)
	}
	for i := range n {
		if err := r.Map(uint64(i)*slotPages*pg, areaPages*pg, unix.PROT_READ|unix.PROT_WRITE); err != nil {
			r.Close()
			b.Fatal(err)
		}
	}
	f := &kernelFixture{r: r, n: n, mid: uint64(n/2) * slotPages * pg}
	r.Touch(f.mid)
	kernelFixtures[n] = f
	return f
}

// kernelMapUnmap is the kernel's side of BenchmarkMapUnmap: the same pair
// of calls as real mmap and munmap syscalls.
func kernelMapUnmap(b *testing.B, kind string, n int) {
	f := getKernelFixture(b, n)
	// Reported when the loop is done (b.Loop's start deletes earlier
	// metrics), counted now.
	defer b.ReportMetric(float64(vmaCount()), "vmas")
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	switch kind {
	case "hole", "merge":
		off := f.mid + (areaPages+1)*pg
		if kind == "merge" {
			off = f.mid + areaPages*pg
		}
		for b.Loop() {
			if err := f.r.Map(off, pg, unix.PROT_READ|unix.PROT_WRITE); err != nil {
				b.Fatal(err)
			}
			if err := f.r.Unmap(off, pg); err != nil {
				b.Fatal(err)
			}
		}
	case "addr0":
		for b.Loop() {
			p, err := unix.MmapPtr(-1, 0, nil, pg, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				b.Fatal(err)
			}
			if err := unix.MunmapPtr(p, pg); err != nil {
				b.Fatal(err)
			}
		}
	default:
		b.Fatalf("no kernel pair %q", kind)
	}
}

// vmaCount returns the number of VMAs of this process.
func vmaCount() int {
	m, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	return bytes.Count(m, []byte{'\n'})
}

// maxMapCount returns vm.max_map_count, or 0 if unknown.
func maxMapCount() int {
	b, err := os.ReadFile("/proc/sys/vm/max_map_count")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
