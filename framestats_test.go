package vmspace_test

import (
	"testing"

	"github.com/vmspace/vmspace"
)

// TestFrameStats: the counters move with the pages a space makes present
// and drops, and describe the arena consistently.
func TestFrameStats(t *testing.T) {
	s, err := vmspace.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rw := vmspace.ProtRead | vmspace.ProtWrite
	addr, err := s.Map(0, 64*vmspace.PageSize, rw, vmspace.MapPrivate|vmspace.MapAnonymous)
	if err != nil {
		t.Fatal(err)
	}
	before := s.FrameStats()
	for i := uint64(0); i < 64; i++ {
		if err := s.Fault(addr+i*vmspace.PageSize, vmspace.Write); err != nil {
			t.Fatal(err)
		}
	}
	mid := s.FrameStats()
	if err := s.Advise(addr, 64*vmspace.PageSize, vmspace.AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	after := s.FrameStats()
	for _, st := range []vmspace.FrameStats{before, mid, after} {
		if st.Bytes != st.Frames*vmspace.PageSize || st.Free > st.Frames || st.Frames == 0 {
			t.Fatalf("inconsistent counters %+v", st)
		}
		switch st.Backing {
		case "memfd", "anonymous", "heap":
		default:
			t.Fatalf("backing %q", st.Backing)
		}
	}
	// The process's arena is shared: a dropped space's cleanup may free
	// frames at any time (never take them), so compare one way only.
	inUse := func(st vmspace.FrameStats) int64 { return int64(st.Frames - st.Free) }
	if d := inUse(mid) - inUse(after); d < 64 {
		t.Errorf("dropping 64 pages freed %d frames", d)
	}
	if inUse(after) > inUse(before) {
		t.Errorf("frames in use grew from %d to %d over fault and drop", inUse(before), inUse(after))
	}
	if after.Held != 0 {
		t.Errorf("%d frames held with no reader in flight", after.Held)
	}
}
