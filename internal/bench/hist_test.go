package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsTileTheRange(t *testing.T) {
	// Consecutive buckets must touch, so that every value has exactly one.
	prevHi := uint64(0)
	for i := 0; i < nBuckets; i++ {
		lo, hi := bucketBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if hi < lo {
			t.Fatalf("bucket %d: [%d, %d]", i, lo, hi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d, %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
	if prevHi != math.MaxUint64 {
		t.Fatalf("last bucket ends at %d", prevHi)
	}
}

func TestBucketWidthIsRelative(t *testing.T) {
	for i := 2 * subCount; i < nBuckets; i++ {
		lo, hi := bucketBounds(i)
		if w := float64(hi-lo+1) / float64(lo); w > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d [%d, %d] is %.4f of its values wide", i, lo, hi, w)
		}
	}
}

func TestSmallValuesExact(t *testing.T) {
	var h Hist
	for v := int64(0); v < 2*subCount; v++ {
		h.Record(v)
	}
	for v := uint64(0); v < 2*subCount; v++ {
		q := float64(v+1) / float64(2*subCount)
		if got := h.Quantile(q); got != v {
			t.Fatalf("Quantile(%v) = %d, want %d", q, got, v)
		}
	}
}

func TestQuantileAgainstSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Hist
	var vals []uint64
	for range 100000 {
		// Log-normal-ish latencies between ~50 ns and a few ms.
		v := uint64(math.Exp(4 + 6*r.Float64()*r.Float64()))
		vals = append(vals, v)
		h.Record(int64(v))
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		rank := max(int(math.Ceil(q*float64(len(vals)))), 1)
		want := vals[rank-1]
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("Quantile(%v) = %d, true %d: outside one bucket", q, got, want)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("min/max %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestMergeEqualsRecordingBoth(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var a, b, both Hist
	for i := range 5000 {
		v := int64(r.ExpFloat64() * 1000)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
		both.Record(v)
	}
	var m Hist
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Hist{}) // merging an empty one changes nothing
	if m.counts != both.counts || m.Count() != both.Count() || m.Min() != both.Min() || m.Max() != both.Max() {
		t.Fatal("merge differs from recording into one histogram")
	}
	if math.Abs(m.Mean()-both.Mean()) > 1e-9*both.Mean() {
		t.Fatalf("mean %v vs %v", m.Mean(), both.Mean())
	}
}

func TestEmptyAndExtremes(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Buckets() != nil {
		t.Fatal("empty histogram is not empty")
	}
	h.Record(-5) // a clock step back counts as 0
	h.Record(math.MaxInt64)
	if h.Min() != 0 || h.Max() != math.MaxInt64 {
		t.Fatalf("min %d max %d", h.Min(), h.Max())
	}
	if got := h.Quantile(1); got != math.MaxInt64 {
		t.Fatalf("Quantile(1) = %d", got)
	}
	bs := h.Buckets()
	if len(bs) != 2 || bs[0].Count != 1 || bs[1].Count != 1 || bs[1].Lo > math.MaxInt64 || bs[1].Hi < math.MaxInt64 {
		t.Fatalf("buckets %+v", bs)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := new(Hist)
	if n := testing.AllocsPerRun(1000, func() { h.Record(12345) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}
