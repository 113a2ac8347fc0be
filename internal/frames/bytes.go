package frames

import "sync/atomic"

// ByteAt returns the byte at offset off of f. Precondition: the caller
// holds a mapping or a reference of f (or f is Zero).
func (a *Arena) ByteAt(f Frame, off uint64) byte {
	off &= PageSize - 1
	return byte(a.words(f)[off/8].Load() >> (8 * (off % 8)))
}

// SetByte stores v at offset off of f, atomically with respect to other
// byte accesses. Precondition: the caller holds a mapping or a reference
// of f, and f is not Zero.
func (a *Arena) SetByte(f Frame, off uint64, v byte) {
	off &= PageSize - 1
	setByte(&a.words(f)[off/8], off, v)
}

// Read copies len(p) bytes at offset off of f into p (off+len(p) must not
// pass the frame's end), each byte atomically: one atomic load per word.
// Preconditions as ByteAt.
func (a *Arena) Read(f Frame, off uint64, p []byte) {
	ws := a.words(f)
	for i := 0; i < len(p); {
		o := off + uint64(i)
		w := ws[o/8].Load() >> (8 * (o % 8))
		for b := o % 8; b < 8 && i < len(p); b++ {
			p[i] = byte(w)
			w >>= 8
			i++
		}
	}
}

// Write stores p at offset off of f, each byte atomically (a word written
// whole with a compare-and-swap when p covers it). Preconditions as
// SetByte.
func (a *Arena) Write(f Frame, off uint64, p []byte) {
	ws := a.words(f)
	for i := 0; i < len(p); {
		o := off + uint64(i)
		if o%8 == 0 && len(p)-i >= 8 {
			var v uint64
			for b := 7; b >= 0; b-- {
				v = v<<8 | uint64(p[i+b])
			}
			ws[o/8].Store(v)
			i += 8
			continue
		}
		setByte(&ws[o/8], o, p[i])
		i++
	}
}

// setByte stores v as byte off%8 of *w.
func setByte(w *atomic.Uint64, off uint64, v byte) {
	shift := 8 * (off % 8)
	mask := uint64(0xff) << shift
	for {
		old := w.Load()
		nw := old&^mask | uint64(v)<<shift
		if old == nw || w.CompareAndSwap(old, nw) {
			return
		}
	}
}
