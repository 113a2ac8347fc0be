package bench

import (
	"fmt"
	"strings"
)

// Churn is what W does to the layout while F faults.
type Churn string

const (
	// ChurnNone: W is idle; the baseline every other churn is compared to.
	ChurnNone Churn = "none"
	// ChurnUnrelated: W maps and unmaps a few pages far from F's area.
	// With per-area locks F should not notice.
	ChurnUnrelated Churn = "unrelated"
	// ChurnAdjacent: W maps right after F's area with another protection
	// (so it stays a separate area) and unmaps it. F's area itself is
	// not changed, but its neighbourhood in the tree is.
	ChurnAdjacent Churn = "adjacent"
	// ChurnAdjMerge: W maps right after F's area with F's protection, so
	// the new range merges into F's area (which is write-locked to grow),
	// and unmaps it again (F's area is split back).
	ChurnAdjMerge Churn = "adjmerge"
	// ChurnConflict: W protects F's whole area between rw- and rwx; F's
	// writes are allowed under both, but every change write-locks F's area.
	ChurnConflict Churn = "conflict"
	// ChurnConflictSplit: W protects the middle third of F's area to rwx
	// (splitting it in three) and back to rw- (merging it again).
	ChurnConflictSplit Churn = "conflictsplit"
)

// Churns lists every churn, in the order tables show them.
var Churns = []Churn{ChurnNone, ChurnUnrelated, ChurnAdjacent, ChurnAdjMerge, ChurnConflict, ChurnConflictSplit}

// ParseChurns parses a comma-separated list of churn names ("all" for all).
func ParseChurns(s string) ([]Churn, error) {
	if s == "" || s == "all" {
		return Churns, nil
	}
	var out []Churn
	for _, f := range strings.Split(s, ",") {
		c := Churn(strings.TrimSpace(f))
		ok := false
		for _, k := range Churns {
			ok = ok || k == c
		}
		if !ok {
			return nil, fmt.Errorf("unknown churn %q (want one of %v)", c, Churns)
		}
		out = append(out, c)
	}
	return out, nil
}

// The workload's layout, as offsets from the engine's region base. The
// same offsets serve every engine so that they do the same work.
const (
	pageSize = 4096
	// FPages is the size of F's area in pages.
	FPages = 64
	// churnPages is the size of W's mappings.
	churnPages = 4
	// fOff is where F's area starts: 2 MiB aligned, and F's 256 KiB are
	// too small for a transparent huge page, so every kernel fault is a
	// 4 KiB one.
	fOff = 16 << 20
	fLen = FPages * pageSize
	// unrelatedOff is where ChurnUnrelated maps: 1 GiB away from F, in
	// another page-table subtree.
	unrelatedOff = 1 << 30
	// backgroundOff is where the vmspace engines put their background
	// areas.
	backgroundOff = 2 << 30
	// regionLen bounds everything above.
	regionLen = 4 << 30
	// splitLo and splitLen are ChurnConflictSplit's middle third.
	splitLo  = FPages / 3
	splitLen = FPages - 2*splitLo
)

// Protections, with mmap's values, which vmspace shares.
const (
	protRW  = 0x1 | 0x2
	protR   = 0x1
	protRWX = 0x1 | 0x2 | 0x4
)

// layout is what an engine offers W: the three calls every churn is made
// of, at offsets from the region base.
type layout interface {
	mapFixed(off, length uint64, prot uint32) error
	unmap(off, length uint64) error
	protect(off, length uint64, prot uint32) error
}

// step does one round of churn c on l and returns the number of layout
// calls made. Each round leaves the layout as it found it.
func step(c Churn, l layout) (int, error) {
	const fEnd = fOff + fLen
	const cl = churnPages * pageSize
	var err1, err2 error
	switch c {
	case ChurnUnrelated:
		err1 = l.mapFixed(unrelatedOff, cl, protRW)
		err2 = l.unmap(unrelatedOff, cl)
	case ChurnAdjacent:
		err1 = l.mapFixed(fEnd, cl, protR)
		err2 = l.unmap(fEnd, cl)
	case ChurnAdjMerge:
		err1 = l.mapFixed(fEnd, cl, protRW)
		err2 = l.unmap(fEnd, cl)
	case ChurnConflict:
		err1 = l.protect(fOff, fLen, protRWX)
		err2 = l.protect(fOff, fLen, protRW)
	case ChurnConflictSplit:
		err1 = l.protect(fOff+splitLo*pageSize, splitLen*pageSize, protRWX)
		err2 = l.protect(fOff+splitLo*pageSize, splitLen*pageSize, protRW)
	default:
		return 0, fmt.Errorf("churn %q has no step", c)
	}
	if err1 != nil {
		return 0, fmt.Errorf("%s: %w", c, err1)
	}
	if err2 != nil {
		return 1, fmt.Errorf("%s: %w", c, err2)
	}
	return 2, nil
}
