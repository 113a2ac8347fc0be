package frames

import (
	"sync/atomic"
	"unsafe"
)

func atomicLoad(p *uint64) uint64 { return atomic.LoadUint64(p) }

// word returns the word holding byte off of f.
func (a *Arena) word(f Frame, off uint64) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(a.page(f), uintptr(off&(PageSize-1)&^7)))
}

// ByteAt returns the byte at offset off of f. Precondition: the caller
// holds a mapping or a reference of f (or f is Zero).
func (a *Arena) ByteAt(f Frame, off uint64) byte {
	return byte(a.word(f, off).Load() >> (8 * (off % 8)))
}

// SetByte stores v at offset off of f, atomically with respect to other
// byte accesses. Precondition: the caller holds a mapping or a reference
// of f, and f is not Zero.
func (a *Arena) SetByte(f Frame, off uint64, v byte) {
	shift := 8 * (off % 8)
	mask := uint64(0xff) << shift
	w := a.word(f, off)
	for {
		old := w.Load()
		nw := old&^mask | uint64(v)<<shift
		if old == nw || w.CompareAndSwap(old, nw) {
			return
		}
	}
}

// Read copies len(p) bytes at offset off of f into p (off+len(p) must not
// pass the frame's end), each byte atomically. Preconditions as ByteAt.
func (a *Arena) Read(f Frame, off uint64, p []byte) {
	for i := range p {
		p[i] = a.ByteAt(f, off+uint64(i))
	}
}

// Write stores p at offset off of f, each byte atomically. Preconditions
// as SetByte.
func (a *Arena) Write(f Frame, off uint64, p []byte) {
	for i, b := range p {
		a.SetByte(f, off+uint64(i), b)
	}
}
