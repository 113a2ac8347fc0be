package vmspace_test

import (
	"fmt"
	"testing"
)

// BenchmarkAreaMemory reports the heap a space takes per area (B/area), tree
// included, at each size: HeapAlloc after GC with n areas built, less
// HeapAlloc before, measured around the first build. Each op builds a whole
// space of n areas (one Map each) and closes it; ns/area is the build time
// per area.
func BenchmarkAreaMemory(b *testing.B) {
	for _, n := range sizes() {
		for _, recycle := range []bool{true, false} {
			c := config{recycle: recycle}
			b.Run(fmt.Sprintf("areas=%d/recycle=%s", n, onOff(recycle)), func(b *testing.B) {
				b.ReportAllocs()
				perArea := -1.0
				for b.Loop() {
					var before uint64
					measure := perArea < 0
					if measure {
						b.StopTimer()
						before = heapAfterGC()
						b.StartTimer()
					}
					s, err := buildSpace(n, c)
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if measure {
						perArea = float64(heapAfterGC()-before) / float64(n)
					}
					s.Close()
					b.StartTimer()
				}
				b.ReportMetric(perArea, "B/area")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/area")
			})
		}
	}
}

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}
