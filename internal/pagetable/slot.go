package pagetable

import (
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/frames"
)

// Slot is one page-table entry: a frame number, atomic.
type Slot struct {
	v atomic.Uint32
}

// Load returns the slot's frame.
func (s *Slot) Load() frames.Frame { return frames.Frame(s.v.Load()) }

// Store sets the slot's frame.
func (s *Slot) Store(f frames.Frame) { s.v.Store(uint32(f)) }

// Swap sets the slot's frame and returns the old one.
func (s *Slot) Swap(f frames.Frame) frames.Frame { return frames.Frame(s.v.Swap(uint32(f))) }

// CompareAndSwap sets the slot to nw if it holds old.
func (s *Slot) CompareAndSwap(old, nw frames.Frame) bool {
	return s.v.CompareAndSwap(uint32(old), uint32(nw))
}
