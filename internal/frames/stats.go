package frames

// Stats are an arena's counters, read without stopping anyone (each field
// is exact, the set is not one instant).
type Stats struct {
	// Frames is the number of frames the arena has grown to (reserved
	// ones included); Bytes is their size.
	Frames, Bytes uint64
	// Free is the number of frames on the free lists.
	Free uint64
	// Held is the number of frames no slot maps any more that wait for
	// the last reader's reference to go (the reference scheme's
	// counterpart of frames waiting for a grace period).
	Held uint64
	// Backing is the kind of memory in use.
	Backing Backing
}

// Stats returns the arena's counters. It takes each shard's lock in turn.
func (a *Arena) Stats() Stats {
	st := Stats{Frames: a.total.Load(), Backing: a.Backing()}
	st.Bytes = st.Frames * PageSize
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		st.Free += uint64(s.mu.n)
		s.mu.Unlock()
	}
	if h := a.held.Load(); h > 0 {
		st.Held = uint64(h)
	}
	return st
}
