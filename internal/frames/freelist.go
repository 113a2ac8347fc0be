package frames

import (
	"sync"
	"unsafe"
)

// stealBatch is how many frames an empty shard takes from another at once.
const stealBatch = 64

// shard is one free list: a LIFO stack of free frames linked through their
// metadata, so that a frame freed is the next handed out on the same shard
// (its lines are likely still in cache).
type shard struct {
	mu struct {
		sync.Mutex
		head Frame // None when empty; guarded by mu
		n    int   // frames on the list; guarded by mu
	}
	_ [64 - 24]byte // one cache line per shard
}

// pushRun puts the linked run first..last (n frames, last's link ignored)
// on the list.
func (s *shard) pushRun(a *Arena, first, last Frame, n int) {
	s.mu.Lock()
	a.meta(last).setNext(s.mu.head)
	s.mu.head = first
	s.mu.n += n
	s.mu.Unlock()
}

// pop takes a frame off the list, or returns None.
func (s *shard) pop(a *Arena) Frame {
	s.mu.Lock()
	f := s.mu.head
	if f != None {
		s.mu.head = a.meta(f).next()
		s.mu.n--
	}
	s.mu.Unlock()
	return f
}

// popRun takes up to max frames off the list as a linked run.
func (s *shard) popRun(a *Arena, max int) (first, last Frame, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first = s.mu.head
	if first == None {
		return None, None, 0
	}
	last = first
	n = 1
	for n < max {
		nx := a.meta(last).next()
		if nx == None {
			break
		}
		last = nx
		n++
	}
	s.mu.head = a.meta(last).next()
	s.mu.n -= n
	return first, last, n
}

// hint picks the caller's shard: a hash of an address on its stack, which
// is stable for a goroutine while its stack does not move and differs
// between goroutines. Go gives no cheaper handle on the running P.
//
//go:nosplit
func hint() uint32 {
	var x byte
	p := uint64(uintptr(unsafe.Pointer(&x)))
	return uint32((p >> 13) * 0x9E3779B97F4A7C15 >> 40)
}

// take returns a free frame, stealing or growing as needed.
func (a *Arena) take() (Frame, error) {
	h := hint()
	own := &a.shards[h&a.shardMask]
	for {
		if f := own.pop(a); f != None {
			return f, nil
		}
		stolen := false
		for i := uint32(1); i <= a.shardMask; i++ {
			v := &a.shards[(h+i)&a.shardMask]
			if first, last, n := v.popRun(a, stealBatch); n > 0 {
				own.pushRun(a, first, last, n)
				stolen = true
				break
			}
		}
		if !stolen {
			if err := a.growChunk(h); err != nil {
				return None, err
			}
		}
	}
}

// free puts f, whose last reference was just dropped, on the caller's
// shard.
func (a *Arena) free(f Frame) {
	m := a.meta(f)
	m.fl.Store(0)
	a.shards[hint()&a.shardMask].pushRun(a, f, f, 1)
}
