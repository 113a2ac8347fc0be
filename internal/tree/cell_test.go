package tree

import "sync/atomic"

// Cells (cell.go) for the tests' value types.

// intCell holds an int.
type intCell struct{ v atomic.Int64 }

func (c *intCell) Load() int { return int(c.v.Load()) }

func (c *intCell) Store(v int) {
	if c.v.Load() != int64(v) {
		c.v.Store(int64(v))
	}
}

// benchCell holds a benchVal.
type benchCell struct {
	p atomic.Pointer[int]
	x atomic.Uint64
}

func (c *benchCell) Load() benchVal { return benchVal{c.p.Load(), c.x.Load()} }

func (c *benchCell) Store(v benchVal) {
	if c.p.Load() != v.p {
		c.p.Store(v.p)
	}
	storeIfNew(&c.x, v.x)
}
