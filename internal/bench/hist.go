package bench

import (
	"math"
	"math/bits"
)

// subBits sets the histogram's precision: each power of two is cut into
// 1<<subBits buckets, so a bucket is at most 1/64 (1.6%) of its values
// wide, and values below 1<<(subBits+1) are counted exactly.
const subBits = 6

const (
	subCount = 1 << subBits
	// nBuckets covers every uint64: the exact range plus subCount
	// buckets for each of the 64-subBits-1 higher powers of two.
	nBuckets = 2*subCount + (64-subBits-1)*subCount
)

// Hist is a log-linear latency histogram in the style of HdrHistogram:
// recording is a few instructions and never allocates, so it can sit in
// the loop being measured, and its error is relative (1.6%), which suits
// latencies that span 50 ns to milliseconds. The zero Hist is empty and
// ready to use. It is not safe for concurrent use: each recorder owns one
// and they are merged afterwards.
type Hist struct {
	counts   [nBuckets]uint64
	n        uint64
	sum      float64
	min, max uint64
}

// bucketOf returns the index of the bucket holding v.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	// v lies in [2^(subBits+e), 2^(subBits+e+1)) with e >= 1; its top
	// subBits+1 bits, v>>e, lie in [subCount, 2*subCount).
	e := bits.Len64(v) - subBits - 1
	return 2*subCount + (e-1)*subCount + int(v>>uint(e)) - subCount
}

// bucketBounds returns the smallest and largest value bucket i holds.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	e := (i-2*subCount)/subCount + 1
	top := uint64((i-2*subCount)%subCount + subCount)
	lo = top << uint(e)
	return lo, lo + (uint64(1) << uint(e)) - 1
}

// Record adds one value. Negative values (a clock that stepped back) count
// as 0.
func (h *Hist) Record(v int64) {
	u := uint64(0)
	if v > 0 {
		u = uint64(v)
	}
	h.counts[bucketOf(u)]++
	if h.n == 0 || u < h.min {
		h.min = u
	}
	if u > h.max {
		h.max = u
	}
	h.n++
	h.sum += float64(u)
}

// Count returns the number of values recorded.
func (h *Hist) Count() uint64 { return h.n }

// Min and Max return the exact extremes (0 when empty).
func (h *Hist) Min() uint64 { return h.min }

// Max returns the largest value recorded.
func (h *Hist) Max() uint64 { return h.max }

// Mean returns the exact mean (0 when empty).
func (h *Hist) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0, 1]: the largest value of
// the bucket holding the ceil(q*n)-th smallest value, clamped to the exact
// extremes, so it is never below the true quantile and at most one bucket
// width (1.6%) above it. It returns 0 when empty.
func (h *Hist) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	rank = min(rank, h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			_, hi := bucketBounds(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds o's values to h.
func (h *Hist) Merge(o *Hist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Bucket is one non-empty bucket: Count values in [Lo, Hi].
type Bucket struct {
	Lo, Hi, Count uint64
}

// Buckets returns the non-empty buckets in increasing order, for plots.
func (h *Hist) Buckets() []Bucket {
	var out []Bucket
	for i, c := range h.counts {
		if c != 0 {
			lo, hi := bucketBounds(i)
			out = append(out, Bucket{lo, hi, c})
		}
	}
	return out
}
