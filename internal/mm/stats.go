package mm

import (
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/frames"
)

// Stats are the fault-path counters, like the kernel's vmstat
// vma_lock_success/abort/retry/miss, plus the faults served under the
// space lock.
type Stats struct {
	// Success: faults completed under an area read lock (including
	// those that failed an access check there).
	Success uint64
	// Abort: per-area lookups that gave up (no area, write-locked,
	// foreign space, range changed, reader count full).
	Abort uint64
	// Retry: faults that held the area lock but needed the space lock
	// to finish (first write to an area without an anon_vma while a
	// writer held the space lock).
	Retry uint64
	// Miss: lookups that found a detached area and looked again.
	Miss uint64
	// Fallback: faults in per-area mode finished under the space lock
	// after an abort or a retry.
	Fallback uint64
	// SpaceLocked: all faults finished under the space lock, in either
	// mode.
	SpaceLocked uint64
}

// stats are sharded so that faulting goroutines on different pages rarely
// share a cache line; each shard is padded to its own line. Reading sums
// the shards without stopping anyone.
const statShards = 8

type statShard struct {
	success, abort, retry, miss, fallback, spaceLocked atomic.Uint64
	_                                                  [16]byte
}

type stats struct {
	shard [statShards]statShard
}

func (st *stats) at(addr uint64) *statShard {
	return &st.shard[(addr>>pageShift)&(statShards-1)]
}

// Stats returns the counters, summed over shards. It takes no lock.
func (s *Space) Stats() Stats {
	var out Stats
	for i := range s.stats.shard {
		sh := &s.stats.shard[i]
		out.Success += sh.success.Load()
		out.Abort += sh.abort.Load()
		out.Retry += sh.retry.Load()
		out.Miss += sh.miss.Load()
		out.Fallback += sh.fallback.Load()
		out.SpaceLocked += sh.spaceLocked.Load()
	}
	return out
}

// FrameStats returns the counters of the arena the space's pages live in
// (shared with every space on the same arena: by default, the process's).
func (s *Space) FrameStats() frames.Stats { return s.mem.Stats() }
