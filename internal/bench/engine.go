package bench

import (
	"fmt"
	"strings"
)

// Counters are vmspace's fault-path counters over one run (mm.Stats); the
// kernel engine has none (the kernel's vma_lock_* vmstat counters are
// system-wide and need CONFIG_PER_VMA_LOCK_STATS).
type Counters struct {
	Success     uint64 `json:"success"`
	Abort       uint64 `json:"abort"`
	Retry       uint64 `json:"retry"`
	Miss        uint64 `json:"miss"`
	Fallback    uint64 `json:"fallback"`
	SpaceLocked uint64 `json:"space_locked"`
}

func (c Counters) sub(o Counters) Counters {
	return Counters{
		c.Success - o.Success, c.Abort - o.Abort, c.Retry - o.Retry,
		c.Miss - o.Miss, c.Fallback - o.Fallback, c.SpaceLocked - o.SpaceLocked,
	}
}

func (c Counters) add(o Counters) Counters {
	return Counters{
		c.Success + o.Success, c.Abort + o.Abort, c.Retry + o.Retry,
		c.Miss + o.Miss, c.Fallback + o.Fallback, c.SpaceLocked + o.SpaceLocked,
	}
}

// Frames are vmspace's frame-arena counters (frames.Stats) at the end of a
// run.
type Frames struct {
	Frames uint64 `json:"frames"`
	Bytes  uint64 `json:"bytes"`
	Free   uint64 `json:"free"`
	Held   uint64 `json:"held"`
}

// target is one engine set up for one run: F's area mapped at fOff of the
// engine's region, nothing at W's offsets. touch and drop are F's, the
// layout calls W's; they run on different goroutines at once.
type target interface {
	layout
	// touch write-faults page i of F's area in.
	touch(i int) error
	// drop drops every page of F's area (MADV_DONTNEED).
	drop() error
	// counters returns the fault-path counters so far (zero if none).
	counters() (Counters, bool)
	// frames returns the counters of the frame arena at this point (false
	// for the kernel, whose memory is not the process's to count).
	frames() (Frames, bool)
	// dropMethod names how drop works ("madvise" for the kernel's
	// syscall, "advise" for vmspace's Advise).
	dropMethod() string
	close() error
}

// Engine is one way to run the workload.
type Engine struct {
	Name string
	// Doc is one line for --help.
	Doc string
	// open sets up a fresh target.
	open func(cfg *Config) (target, error)
}

// Engines lists the engines in the order tables show them.
var Engines = []Engine{
	{Name: "per-area", Doc: "vmspace, per-area locks (lockless lookup, area read lock)", open: openPerArea},
	{Name: "whole-space", Doc: "vmspace, every fault takes the space lock for reading", open: openWholeSpace},
	{Name: "kernel", Doc: "the real kernel: real mmap, page faults and madvise in a free region (Linux)", open: openKernel},
}

// UffdEngines are the engines where F is a thread of another process whose
// faults arrive through userfaultfd (Linux; engine_uffd_linux.go). "all"
// does not include them; "uffd" names the three.
var UffdEngines = []Engine{
	{Name: "uffd-per-area", Doc: "F in a client process; vmspace serves its faults through userfaultfd under the area read lock (Linux)", open: openUffdPerArea},
	{Name: "uffd-whole-space", Doc: "the same, every fault under the space lock held for reading (Linux)", open: openUffdWhole},
	{Name: "uffd-minimal", Doc: "the same client; the handler answers every fault with UFFDIO_ZEROPAGE at once, no layout: the floor (Linux)", open: openUffdMinimal},
}

// ParseEngines parses a comma-separated list of engine names ("all" for
// all).
func ParseEngines(s string) ([]Engine, error) {
	if s == "" || s == "all" {
		return Engines, nil
	}
	var out []Engine
	for _, f := range strings.Split(s, ",") {
		name := strings.TrimSpace(f)
		if name == "uffd" {
			out = append(out, UffdEngines...)
			continue
		}
		found := false
		for _, e := range append(Engines[:len(Engines):len(Engines)], UffdEngines...) {
			if e.Name == name {
				out = append(out, e)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown engine %q (want per-area, whole-space, kernel, uffd-per-area, uffd-whole-space, uffd-minimal or uffd)", name)
		}
	}
	return out, nil
}
