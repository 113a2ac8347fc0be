package vmspace_test

import (
	"testing"

	"github.com/vmspace/vmspace"
)

// BenchmarkProtect/splitmerge protects the middle page of a 3-page area
// read-only, which splits the area in three, and back to read-write, which
// merges the three again: two Protect calls per op.
func BenchmarkProtect(b *testing.B) {
	b.Run("splitmerge", func(b *testing.B) {
		eachSize(b, func(b *testing.B, n int) {
			eachConfig(b, n, func(b *testing.B, f *fixture) {
				b.ReportAllocs()
				n := f.s.Len()
				a := f.mid + pg
				defer reportCPU(b, processCPU())
				for b.Loop() {
					if err := f.s.Protect(a, pg, vmspace.ProtRead); err != nil {
						b.Fatal(err)
					}
					if err := f.s.Protect(a, pg, rw); err != nil {
						b.Fatal(err)
					}
				}
				if f.s.Len() != n {
					b.Fatalf("%d areas after split and merge, want %d", f.s.Len(), n)
				}
			})
		})
	})
}
