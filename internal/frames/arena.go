package frames

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Backing is the kind of memory an arena's frames live in.
type Backing uint8

const (
	// Memfd: chunks of a memfd mapped shared (the first choice).
	Memfd Backing = iota
	// Anonymous: anonymous private mappings (memfd_create failed).
	Anonymous
	// Heap: pointer-free Go allocations (mmap failed too).
	Heap
)

func (b Backing) String() string {
	switch b {
	case Memfd:
		return "memfd"
	case Anonymous:
		return "anonymous"
	}
	return "heap"
}

// ErrNoMemory is returned when the arena cannot grow.
var ErrNoMemory = errors.New("frames: out of memory")

// Options configure NewArena. The zero value is the default.
type Options struct {
	// ChunkFrames is the number of frames the arena grows by, a power of
	// two; 0 means 16384 (64 MiB).
	ChunkFrames int
	// MaxChunks bounds the arena; 0 means 4096 chunks.
	MaxChunks int
	// Shards is the number of free lists, a power of two; 0 means one
	// per CPU, doubled, at most 64.
	Shards int
	// Prefer is the first backing to try; later ones are tried on
	// failure. Tests set it to force a fallback.
	Prefer Backing
	// failMemfd and failMmap make those backings fail (tests).
	failMemfd, failMmap bool
}

// chunk is one grown piece of the arena: its frames' bytes and metadata,
// as slices over the mapped (or allocated) memory, so that the hot paths
// index them instead of doing pointer arithmetic (which -race's checkptr
// checks on every use: measured, it made the mm tests 4 times slower).
// Immutable after it is published.
type chunk struct {
	raw   []uint64        // the frames' bytes, for plain access to unpublished frames
	words []atomic.Uint64 // the same memory, for atomic access
}

// newChunk makes a chunk over data (frames*PageSize bytes).
func newChunk(data unsafe.Pointer, frames int) *chunk {
	return &chunk{
		raw:   unsafe.Slice((*uint64)(data), frames*wordsPerPage),
		words: unsafe.Slice((*atomic.Uint64)(data), frames*wordsPerPage),
	}
}

// chunkSlots bounds the number of chunks of an arena.
const chunkSlots = 4096

// Arena is a set of frames. Safe for concurrent use.
type Arena struct {
	// Immutable after NewArena.
	chunkShift uint
	chunkMask  uint32
	maxChunks  int
	shardMask  uint32
	opts       Options

	// chunks[i] is published once, under grow.mu, and never changes. A
	// fixed array indexed with a mask: one load fewer and no bounds
	// check on the fault path (valid indexes are below MaxChunks).
	chunks *[chunkSlots]atomic.Pointer[chunk]

	grow struct {
		sync.Mutex
		backing Backing // the backing in use; guarded by mu
		fd      int     // the memfd (Memfd backing); guarded by mu
		n       int     // chunks grown; guarded by mu
	}

	shards []shard

	// metas holds every frame's metadata, indexed by frame number, for
	// the arena's whole capacity (reserved, backed as touched): the fault
	// path reaches a frame's counts with one load and an index, not
	// through its chunk (measured: the chunk walk cost about 10 ns of a
	// 45 ns fault). Immutable.
	metas []meta

	// Counters (atomic): frames in the arena, frames unmapped but still
	// referenced.
	total atomic.Uint64
	held  atomic.Int64
}

// NewArena returns an arena with its first chunk grown, frames None and
// Zero reserved.
func NewArena(o Options) (*Arena, error) {
	if o.ChunkFrames == 0 {
		o.ChunkFrames = 1 << 14
	}
	if o.ChunkFrames < 4 || o.ChunkFrames&(o.ChunkFrames-1) != 0 {
		return nil, fmt.Errorf("frames: chunk of %d frames: not a power of two >= 4", o.ChunkFrames)
	}
	if o.MaxChunks == 0 {
		o.MaxChunks = chunkSlots
	}
	if o.MaxChunks > chunkSlots {
		return nil, fmt.Errorf("frames: %d chunks: at most %d", o.MaxChunks, chunkSlots)
	}
	if uint64(o.MaxChunks)*uint64(o.ChunkFrames) > uint64(Guard) {
		return nil, fmt.Errorf("frames: %d chunks of %d frames overflow a frame number", o.MaxChunks, o.ChunkFrames)
	}
	if o.Shards == 0 {
		o.Shards = 1
		for o.Shards < 2*runtime.GOMAXPROCS(0) && o.Shards < 64 {
			o.Shards *= 2
		}
	}
	if o.Shards&(o.Shards-1) != 0 {
		return nil, fmt.Errorf("frames: %d shards: not a power of two", o.Shards)
	}
	a := &Arena{
		maxChunks: o.MaxChunks,
		chunkMask: uint32(o.ChunkFrames - 1),
		shardMask: uint32(o.Shards - 1),
		opts:      o,
		chunks:    new([chunkSlots]atomic.Pointer[chunk]),
		shards:    make([]shard, o.Shards),
	}
	for 1<<a.chunkShift < o.ChunkFrames {
		a.chunkShift++
	}
	a.metas = newMetas(o.MaxChunks*o.ChunkFrames, o.failMmap || o.Prefer == Heap)
	if len(a.metas) < o.MaxChunks*o.ChunkFrames {
		if len(a.metas) < o.ChunkFrames {
			return nil, fmt.Errorf("frames: chunks of %d frames too big for metadata on the heap: %w", o.ChunkFrames, ErrNoMemory)
		}
		a.maxChunks = len(a.metas) / o.ChunkFrames
	}
	a.grow.backing = o.Prefer
	a.grow.fd = -1
	if err := a.growChunk(0); err != nil {
		return nil, err
	}
	z := a.meta(Zero)
	z.rc.Store(pinned) // never reaches 0, never exclusive
	return a, nil
}

var (
	defaultOnce  sync.Once
	defaultArena *Arena
)

// Default returns the process's arena, shared by every space that is not
// given one (spaces that share pages through Fork must share an arena).
func Default() *Arena {
	defaultOnce.Do(func() {
		a, err := NewArena(Options{})
		if err != nil {
			panic("frames: no memory for the default arena: " + err.Error())
		}
		defaultArena = a
	})
	return defaultArena
}

// Backing returns the kind of memory the arena grows with now.
func (a *Arena) Backing() Backing {
	a.grow.Lock()
	defer a.grow.Unlock()
	return a.grow.backing
}

// chunkOf returns the chunk holding f. f must have been handed out by a
// (or be Zero), so its chunk is published.
func (a *Arena) chunkOf(f Frame) *chunk {
	return a.chunks[(uint32(f)>>a.chunkShift)&(chunkSlots-1)].Load()
}

// meta returns f's metadata.
func (a *Arena) meta(f Frame) *meta {
	return &a.metas[f]
}

// words returns f's contents for atomic access.
func (a *Arena) words(f Frame) []atomic.Uint64 {
	i := int(uint32(f)&a.chunkMask) * wordsPerPage
	return a.chunkOf(f).words[i : i+wordsPerPage : i+wordsPerPage]
}

// raw returns f's contents for plain access; only for a frame nobody else
// can reach.
func (a *Arena) raw(f Frame) []uint64 {
	i := int(uint32(f)&a.chunkMask) * wordsPerPage
	return a.chunkOf(f).raw[i : i+wordsPerPage : i+wordsPerPage]
}

// growChunk adds a chunk and puts its frames on shard hint's free list
// (all but None and Zero for the first chunk).
func (a *Arena) growChunk(hint uint32) error {
	a.grow.Lock()
	i := a.grow.n
	if i >= a.maxChunks {
		a.grow.Unlock()
		return ErrNoMemory
	}
	c, err := a.newChunkLocked(i)
	if err != nil {
		a.grow.Unlock()
		return err
	}
	a.chunks[i].Store(c)
	a.grow.n++
	a.grow.Unlock()
	n := uint32(a.chunkMask) + 1
	a.total.Add(uint64(n))
	first := Frame(uint32(i) << a.chunkShift)
	last := first + Frame(n) - 1
	if i == 0 {
		first = firstFrame
	}
	// Link first..last in order, and splice the run into the shard.
	for f := first; f < last; f++ {
		a.meta(f).setNext(f + 1)
	}
	a.shards[hint&a.shardMask].pushRun(a, first, last, int(last-first)+1)
	return nil
}
