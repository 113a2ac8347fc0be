package vmspace_test

import (
	"testing"

	"github.com/vmspace/vmspace"
)

// BenchmarkMapUnmap is one Map and its Unmap, in both lock modes with
// recycling on and off, at each size, next to the real kernel's
// mmap+munmap pair (mode=kernel, where the size is the number of extra
// VMAs the benchmark made in this process):
//
//	hole   a page fixed into the middle of a gap, touching no area
//	merge  a page fixed right after an area, with its protection, so that
//	       it merges into it (the area grows) and the unmap splits it off
//	addr0  a page with addr 0, placed top-down by the gap search; read-only
//	       so that in the kernel it cannot merge with the runtime's own
//	       read-write mappings above
func BenchmarkMapUnmap(b *testing.B) {
	kinds := []struct {
		name string
		run  func(b *testing.B, f *fixture)
	}{
		{"hole", func(b *testing.B, f *fixture) {
			mapUnmapFixed(b, f.s, f.mid+(areaPages+1)*pg, rw)
		}},
		{"merge", func(b *testing.B, f *fixture) {
			mapUnmapFixed(b, f.s, f.mid+areaPages*pg, rw)
		}},
		{"addr0", func(b *testing.B, f *fixture) {
			b.ReportAllocs()
			defer reportCPU(b, processCPU())
			defer reportCopied(b, f.s, vmspace.TreeCopiedBytes(f.s))
			for b.Loop() {
				a, err := f.s.Map(0, pg, vmspace.ProtRead, priv)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.s.Unmap(a, pg); err != nil {
					b.Fatal(err)
				}
			}
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			eachSize(b, func(b *testing.B, n int) {
				eachConfig(b, n, k.run)
				b.Run("mode=kernel", func(b *testing.B) { kernelMapUnmap(b, k.name, n) })
			})
		})
	}
}

func mapUnmapFixed(b *testing.B, s *vmspace.Space, addr uint64, prot vmspace.Prot) {
	n := s.Len()
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	defer reportCopied(b, s, vmspace.TreeCopiedBytes(s))
	for b.Loop() {
		if _, err := s.Map(addr, pg, prot, priv|vmspace.MapFixed); err != nil {
			b.Fatal(err)
		}
		if err := s.Unmap(addr, pg); err != nil {
			b.Fatal(err)
		}
	}
	if s.Len() != n {
		b.Fatalf("layout changed: %d areas, was %d", s.Len(), n)
	}
}

// reportCopied reports the bytes that layout changes copied into tree nodes
// per iteration, from a count taken before the loop.
func reportCopied(b *testing.B, s *vmspace.Space, start uint64) {
	if b.N > 0 {
		b.ReportMetric(float64(vmspace.TreeCopiedBytes(s)-start)/float64(b.N), "copied-B/op")
	}
}
