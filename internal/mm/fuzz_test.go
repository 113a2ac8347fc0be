package mm

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// Fuzz targets over operation sequences. The input bytes are decoded into
// calls on a space whose range is the model's window (model_test.go).
//
// FuzzModel runs the calls the model knows (map, unmap, protect, fault,
// read, write) on a space and on the model and compares them after every
// call, as the model tests do; FuzzOps adds the calls the model does not
// know (remap, advise) and checks what holds for any call: no panic, the
// invariants hold after each call, and a call that fails leaves the space
// exactly as it was (layout, presence and every byte). The exceptions are
// the calls Linux documents as applied part-way: mprotect and madvise,
// which fail with ENOMEM at a hole after changing what came before, and
// MADV_POPULATE_READ/WRITE, which fault pages in until one fails. In
// FuzzModel the model checks mprotect's partial application.
//
//	go test -fuzz=FuzzModel -fuzztime=1m ./internal/mm/
//	go test -fuzz=FuzzOps -fuzztime=1m ./internal/mm/

// fzReader hands out the fuzz input a byte at a time, then zeros.
type fzReader struct{ b []byte }

func (r *fzReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fzReader) more() bool { return len(r.b) > 0 }

// rangeArgs decodes a range: mostly whole pages inside the window, with a
// modifier byte for the edge cases (unaligned start, zero or odd length,
// a range running past the window).
func (r *fzReader) rangeArgs() (uint64, uint64) {
	p := int(r.next()) % mdlPages
	n := 1 + int(r.next())%6
	n = min(n, mdlPages-p)
	addr, length := mdlAddr(p), uint64(n)*PageSize
	switch r.next() % 16 {
	case 0:
		addr += uint64(1 + r.next()%64)
	case 1:
		length = 0
	case 2:
		length -= uint64(1 + r.next())
	case 3:
		length += PageSize * uint64(1+r.next()%4) // past the window
	}
	return addr, length
}

// fzModelOp decodes one call the model knows.
func fzModelOp(r *fzReader, pristine bool) mdlOp {
	k := mdlKind(r.next() % uint8(mdlNumKinds))
	if pristine && k == mdlWrite {
		k = mdlRead
	}
	switch k {
	case mdlMap:
		addr, length := r.rangeArgs()
		fb := r.next()
		flags := MapPrivate | MapAnonymous
		if fb&1 != 0 {
			flags = MapShared | MapAnonymous
		}
		if fb&2 != 0 {
			flags |= MapNoReserve
		}
		if fb&4 != 0 && !pristine {
			flags |= MapPopulate
		}
		switch fb >> 3 % 4 {
		case 0, 1:
			flags |= MapFixed
		case 2:
			flags |= MapFixedNoReplace
		case 3:
			if fb&0x80 != 0 {
				addr = 0
			}
		}
		return mdlOp{kind: mdlMap, addr: addr, length: length, flags: flags, prot: mdlProts[int(r.next())%len(mdlProts)]}
	case mdlUnmap:
		addr, length := r.rangeArgs()
		return mdlOp{kind: mdlUnmap, addr: addr, length: length}
	case mdlProtect:
		addr, length := r.rangeArgs()
		return mdlOp{kind: mdlProtect, addr: addr, length: length, prot: mdlProts[int(r.next())%len(mdlProts)]}
	case mdlFault:
		acc := Access(r.next() % 3)
		if pristine && acc == Write {
			acc = Read
		}
		return mdlOp{kind: mdlFault, addr: mdlAddr(int(r.next())%mdlPages) + uint64(r.next())*16, acc: acc}
	case mdlRead:
		return mdlOp{kind: mdlRead, addr: mdlAddr(int(r.next())%mdlPages) + uint64(r.next())*16, length: 1 + uint64(r.next())*32}
	}
	addr := mdlAddr(int(r.next())%mdlPages) + uint64(r.next())*16
	data := make([]byte, 1+int(r.next())%16)
	for i := range data {
		data[i] = r.next() | 1
	}
	return mdlOp{kind: mdlWrite, addr: addr, data: data}
}

var fzSeeds = [][]byte{
	{},
	{0, 0, 5, 7, 0x08, 2, 0, 3, 0, 0, 1, 2, 4, 0},
	{0, 2, 4, 7, 0x00, 2, 2, 3, 1, 5, 3, 2, 2, 1, 0, 2, 1, 0, 1, 0},
	{0, 0, 23, 7, 0x11, 2, 5, 1, 3, 9, 4, 7, 2, 0, 1, 6, 3},
	[]byte("map unmap protect fault read write remap advise, in bytes"),
}

// FuzzModel: the model and the space agree after every call.
func FuzzModel(f *testing.F) {
	for _, s := range fzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &fzReader{b: in}
		cfg := r.next()
		pristine := cfg&1 != 0
		mode := PerArea
		if cfg&2 != 0 {
			mode = WholeSpace
		}
		s := newMdlSpace(t, mode, cfg&4 != 0)
		defer s.Close()
		m := newMdlModel()
		for i := 0; r.more() && i < 64; i++ {
			op := fzModelOp(r, pristine)
			before := takeLayout(s, mdlBase, mdlAddr(mdlPages))
			want := m.step(op)
			got := mdlApply(s, op)
			if !mdlSameRes(got, want) {
				t.Fatalf("call %d %s: got %v, model says %v", i, op, got, want)
			}
			if err := mdlCompare(s, m, pristine); err != nil {
				t.Fatalf("call %d %s -> %v: %v", i, op, got, err)
			}
			if err := s.CheckInvariants(true); err != nil {
				t.Fatalf("call %d %s: invariants: %v", i, op, err)
			}
			if got.err != "" && !(op.kind == mdlProtect && got.err == "ENOMEM") && op.kind < mdlFault {
				if d := before.diff(takeLayout(s, mdlBase, mdlAddr(mdlPages))); d != "" {
					t.Fatalf("call %d %s failed with %s but changed the space: %s", i, op, got.err, d)
				}
			}
		}
	})
}

// FuzzOps: any calls, remap and advise included: no panic, invariants
// after each call, and a failed call changes nothing (but for the
// documented partial mprotect and madvise).
func FuzzOps(f *testing.F) {
	for _, s := range fzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &fzReader{b: in}
		cfg := r.next()
		mode := PerArea
		if cfg&2 != 0 {
			mode = WholeSpace
		}
		s := newMdlSpace(t, mode, cfg&4 != 0)
		defer s.Close()
		for i := 0; r.more() && i < 64; i++ {
			before := takeLayout(s, mdlBase, mdlAddr(mdlPages))
			var what string
			var err error
			partial := false
			switch k := r.next() % 8; k {
			case 6:
				addr, oldLen := r.rangeArgs()
				newLen := uint64(r.next()%8) * PageSize
				flags := RemapFlags(r.next() % 8)
				newAddr := mdlAddr(int(r.next()) % mdlPages)
				what = fmt.Sprintf("remap(%#x, %#x, %#x, %d, %#x)", addr, oldLen, newLen, flags, newAddr)
				_, err = s.Remap(addr, oldLen, newLen, flags, newAddr)
			case 7:
				addr, length := r.rangeArgs()
				adv := fzAdvices[int(r.next())%len(fzAdvices)]
				what = fmt.Sprintf("advise(%#x, %#x, %d)", addr, length, adv)
				err = s.Advise(addr, length, adv)
				// madvise applies part-way before a hole (ENOMEM), and
				// MADV_POPULATE_* fault pages in one by one until one
				// fails (madvise(2): populating may have partially
				// succeeded).
				partial = errors.Is(err, syscall.ENOMEM) || adv == 22 || adv == 23
			default:
				r.b = append([]byte{byte(k)}, r.b...) // let fzModelOp read the kind
				op := fzModelOp(r, false)
				what = op.String()
				res := mdlApply(s, op)
				if res.err != "" && op.kind < mdlFault {
					err = errors.New(res.err)
				}
				partial = op.kind == mdlProtect && res.err == "ENOMEM"
			}
			if err := s.CheckInvariants(true); err != nil {
				t.Fatalf("call %d %s: invariants: %v", i, what, err)
			}
			if err != nil && !partial && !errors.Is(err, syscall.ENOSYS) {
				if d := before.diff(takeLayout(s, mdlBase, mdlAddr(mdlPages))); d != "" {
					t.Fatalf("call %d %s failed with %v but changed the space: %s", i, what, err, d)
				}
			}
		}
	})
}

// fzAdvices are Linux's MADV_* values, with a few invalid ones.
var fzAdvices = [...]Advice{0, 1, 2, 3, 4, 8, 9, 10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 99, 102, 103}
