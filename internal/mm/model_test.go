package mm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vmspace/vmspace/internal/lockcheck"
)

// Model-based tests: random sequences of calls applied to a space and to a
// plain sequential model of it, compared after every step: the call's
// result, the layout (Maps), which pages are present (Mincore) and every
// byte of every present page.
//
// The model is written from Linux's documented behaviour, not from this
// package's code: it keeps one record per page of a small window (mapped,
// protection, shared object and offset, MAP_NORESERVE, present, contents)
// and derives the areas from the pages.
//
// Merging. On memory that was never written, Linux keeps the layout
// maximally merged: two adjacent pages are in one area exactly when their
// flags are equal and they continue the same object at consecutive
// offsets (private anonymous memory: offset = address/4096, so always;
// shared anonymous memory: the same shmem object). Every call keeps that
// form: mmap merges the new range with both neighbours, mprotect merges
// the changed range with its neighbours and splits only where the flags
// differ, munmap only makes holes. So in the "pristine" sequences, which
// never write, the exact layout is compared: boundaries and VM_* flags.
// Once memory is written, an area gets an anon_vma, and anon_vma
// compatibility and VM_ACCOUNT stickiness make the split depend on
// history; the "written" sequences compare, page by page, only mapped,
// protection and shared, plus presence and contents.

const (
	mdlPages = 24
	mdlBase  = 0x20000000
)

// mdlPage is the model of one page.
type mdlPage struct {
	mapped    bool
	prot      Prot
	shared    bool
	shm       int    // shared: the object's id
	pgoff     uint64 // shared: the page's offset in the object
	noreserve bool
	present   bool
}

// mdlModel is the model of a space whose range is exactly the window.
type mdlModel struct {
	pages   [mdlPages]mdlPage
	data    map[int]*[PageSize]byte // contents of pages written at least once
	nextShm int
}

func newMdlModel() *mdlModel { return &mdlModel{data: map[int]*[PageSize]byte{}} }

func mdlAddr(p int) uint64 { return mdlBase + uint64(p)*PageSize }

// flags are the VM_* flags Linux gives a never-written page's area:
// mmap's VM_MAY*, VM_SHARED|VM_MAYSHARE for shared memory, VM_NORESERVE
// for MAP_NORESERVE, and VM_ACCOUNT for private writable memory that is
// not MAP_NORESERVE (accountable_mapping; mprotect adds it when write is
// granted and, with no anon_vma, drops it when write is taken away).
func (p *mdlPage) flags() Flags {
	f := Flags(p.prot) | VMMayRead | VMMayWrite | VMMayExec
	if p.shared {
		f |= VMShared | VMMayShare
	}
	if p.noreserve {
		f |= VMNoReserve
	}
	if !p.shared && !p.noreserve && p.prot&ProtWrite != 0 {
		f |= VMAccount
	}
	return f
}

// joins reports whether page i+1 continues page i's area.
func (m *mdlModel) joins(i int) bool {
	a, b := &m.pages[i], &m.pages[i+1]
	if !a.mapped || !b.mapped || a.flags() != b.flags() || a.shared != b.shared {
		return false
	}
	return !a.shared || a.shm == b.shm && b.pgoff == a.pgoff+1
}

// areas returns the maximally merged layout.
func (m *mdlModel) areas() []Mapping {
	var out []Mapping
	for i := 0; i < mdlPages; i++ {
		if !m.pages[i].mapped {
			continue
		}
		j := i
		for j+1 < mdlPages && m.joins(j) {
			j++
		}
		pg := &m.pages[i]
		out = append(out, Mapping{Start: mdlAddr(i), End: mdlAddr(j + 1), Flags: pg.flags(), Shared: pg.shared})
		i = j
	}
	return out
}

// mdlRes is a call's result, on either side.
type mdlRes struct {
	err  string // "" or the errno's name, or "MAPERR@addr"/"ACCERR@addr"
	addr uint64 // map: the address
	n    int    // read/write: bytes done
	data []byte // read: the bytes
}

func (r mdlRes) String() string {
	s := r.err
	if s == "" {
		s = "ok"
	}
	return fmt.Sprintf("%s addr=%#x n=%d", s, r.addr, r.n)
}

func mdlErr(err error) string {
	if err == nil {
		return ""
	}
	var fe *FaultError
	if errors.As(err, &fe) {
		return fmt.Sprintf("%v@%#x", fe.Code, fe.Addr)
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return mdlErrno(en)
	}
	return "other: " + err.Error()
}

func mdlErrno(e syscall.Errno) string {
	switch e {
	case 0:
		return ""
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.ENOMEM:
		return "ENOMEM"
	case syscall.EEXIST:
		return "EEXIST"
	case syscall.EPERM:
		return "EPERM"
	}
	return e.Error()
}

// mdlKind is the kind of a call.
type mdlKind uint8

const (
	mdlMap mdlKind = iota
	mdlUnmap
	mdlProtect
	mdlFault
	mdlRead
	mdlWrite
	mdlNumKinds
)

// mdlOp is one call, in the window's terms.
type mdlOp struct {
	kind   mdlKind
	addr   uint64
	length uint64
	prot   Prot
	flags  MapFlags
	acc    Access
	data   []byte // write
}

func (o mdlOp) String() string {
	switch o.kind {
	case mdlMap:
		return fmt.Sprintf("map(%#x, %#x, %v, %#x)", o.addr, o.length, o.prot, uint32(o.flags))
	case mdlUnmap:
		return fmt.Sprintf("unmap(%#x, %#x)", o.addr, o.length)
	case mdlProtect:
		return fmt.Sprintf("protect(%#x, %#x, %v)", o.addr, o.length, o.prot)
	case mdlFault:
		return fmt.Sprintf("fault(%#x, %v)", o.addr, o.acc)
	case mdlRead:
		return fmt.Sprintf("read(%#x, %d)", o.addr, o.length)
	}
	return fmt.Sprintf("write(%#x, %d bytes)", o.addr, len(o.data))
}

// pageRange converts a page-aligned range inside the window to page
// indexes; ok is false if it leaves the window.
func mdlPageRange(addr, length uint64) (lo, hi int, ok bool) {
	end := addr + length
	if addr < mdlBase || end > mdlAddr(mdlPages) || end < addr {
		return 0, 0, false
	}
	return int((addr - mdlBase) / PageSize), int((end - mdlBase) / PageSize), true
}

func mdlRoundUp(n uint64) uint64 { return (n + PageSize - 1) &^ (PageSize - 1) }

// step applies op to the model.
func (m *mdlModel) step(op mdlOp) mdlRes {
	switch op.kind {
	case mdlMap:
		return m.mmap(op)
	case mdlUnmap:
		return m.munmap(op)
	case mdlProtect:
		return m.mprotect(op)
	case mdlFault:
		p, code := m.access(op.addr, op.acc)
		if code != "" {
			return mdlRes{err: fmt.Sprintf("%s@%#x", code, op.addr)}
		}
		m.pages[p].present = true
		return mdlRes{}
	case mdlRead:
		return m.rw(op, false)
	}
	return m.rw(op, true)
}

func (m *mdlModel) mmap(op mdlOp) mdlRes {
	if op.length == 0 {
		return mdlRes{err: "EINVAL"}
	}
	length := mdlRoundUp(op.length)
	npages := int(length / PageSize)
	fixed := op.flags&(MapFixed|MapFixedNoReplace) != 0
	addr := op.addr
	switch {
	case fixed && addr+length > mdlAddr(mdlPages):
		// get_unmapped_area checks the range before the alignment.
		return mdlRes{err: "ENOMEM"}
	case fixed && addr%PageSize != 0:
		return mdlRes{err: "EINVAL"}
	case fixed:
		lo, hi, ok := mdlPageRange(addr, length)
		if !ok {
			return mdlRes{err: "ENOMEM"}
		}
		if op.flags&MapFixedNoReplace != 0 && !m.free(lo, hi) {
			return mdlRes{err: "EEXIST"}
		}
	default:
		// A free hint, rounded down to a page (x86's
		// arch_get_unmapped_area_topdown), is taken; otherwise the
		// highest gap that fits, at its top.
		addr &^= PageSize - 1
		lo, hi, ok := mdlPageRange(addr, length)
		if addr == 0 || !ok || !m.free(lo, hi) {
			found := false
			for top := mdlPages; top-npages >= 0; top-- {
				if m.free(top-npages, top) {
					addr, found = mdlAddr(top-npages), true
					break
				}
			}
			if !found {
				return mdlRes{err: "ENOMEM"}
			}
		}
	}
	lo, hi, _ := mdlPageRange(addr, length)
	shared := op.flags&MapShared != 0
	shm := 0
	if shared {
		m.nextShm++
		shm = m.nextShm
	}
	for p := lo; p < hi; p++ {
		m.pages[p] = mdlPage{mapped: true, prot: op.prot, shared: shared, shm: shm, pgoff: uint64(p - lo),
			noreserve: op.flags&MapNoReserve != 0}
		delete(m.data, p)
	}
	if op.flags&MapPopulate != 0 && op.prot != ProtNone {
		// mm_populate: every page faulted in (write faults for private
		// writable memory, which leave the contents zero).
		for p := lo; p < hi; p++ {
			m.pages[p].present = true
		}
	}
	return mdlRes{addr: addr}
}

func (m *mdlModel) free(lo, hi int) bool {
	for p := lo; p < hi; p++ {
		if m.pages[p].mapped {
			return false
		}
	}
	return true
}

func (m *mdlModel) munmap(op mdlOp) mdlRes {
	if op.addr%PageSize != 0 || op.length == 0 {
		return mdlRes{err: "EINVAL"}
	}
	lo, hi, ok := mdlPageRange(op.addr, mdlRoundUp(op.length))
	if !ok {
		return mdlRes{err: "EINVAL"}
	}
	for p := lo; p < hi; p++ {
		m.pages[p] = mdlPage{}
		delete(m.data, p)
	}
	return mdlRes{}
}

// mprotect: ENOMEM if the start is not mapped; else each page gets the
// protection until the first hole, which stops it with ENOMEM after the
// earlier pages were changed.
func (m *mdlModel) mprotect(op mdlOp) mdlRes {
	if op.addr%PageSize != 0 {
		return mdlRes{err: "EINVAL"}
	}
	if op.length == 0 {
		return mdlRes{}
	}
	end := op.addr + mdlRoundUp(op.length)
	if end <= op.addr || op.addr < mdlBase {
		return mdlRes{err: "ENOMEM"}
	}
	// Past the window is unmapped: a hole like any other.
	for a := op.addr; a < end; a += PageSize {
		p := int((a - mdlBase) / PageSize)
		if a >= mdlAddr(mdlPages) || !m.pages[p].mapped {
			return mdlRes{err: "ENOMEM"}
		}
		m.pages[p].prot = op.prot
	}
	return mdlRes{}
}

// access checks an access at addr with x86's rules: a read needs any of
// r, w, x; a write needs w; an exec needs x.
func (m *mdlModel) access(addr uint64, acc Access) (int, string) {
	if addr < mdlBase || addr >= mdlAddr(mdlPages) {
		return 0, "SEGV_MAPERR"
	}
	p := int((addr - mdlBase) / PageSize)
	pg := &m.pages[p]
	if !pg.mapped {
		return p, "SEGV_MAPERR"
	}
	ok := pg.prot != ProtNone
	switch acc {
	case Write:
		ok = pg.prot&ProtWrite != 0
	case Exec:
		ok = pg.prot&ProtExec != 0
	}
	if !ok {
		return p, "SEGV_ACCERR"
	}
	return p, ""
}

// rw reads or writes byte by byte in page-sized chunks, stopping at the
// first page that faults.
func (m *mdlModel) rw(op mdlOp, write bool) mdlRes {
	n := int(op.length)
	if write {
		n = len(op.data)
	}
	res := mdlRes{}
	acc := Read
	if write {
		acc = Write
	}
	for res.n < n {
		a := op.addr + uint64(res.n)
		p, code := m.access(a, acc)
		if code != "" {
			res.err = fmt.Sprintf("%s@%#x", code, a)
			return res
		}
		m.pages[p].present = true
		off := int(a % PageSize)
		chunk := min(n-res.n, PageSize-off)
		d := m.data[p]
		if write {
			if d == nil {
				d = new([PageSize]byte)
				m.data[p] = d
			}
			copy(d[off:], op.data[res.n:res.n+chunk])
		} else if d != nil {
			res.data = append(res.data, d[off:off+chunk]...)
		} else {
			res.data = append(res.data, make([]byte, chunk)...)
		}
		res.n += chunk
	}
	return res
}

// mdlApply runs op on s.
func mdlApply(s *Space, op mdlOp) mdlRes {
	switch op.kind {
	case mdlMap:
		addr, err := s.Map(op.addr, op.length, op.prot, op.flags)
		return mdlRes{err: mdlErr(err), addr: addr}
	case mdlUnmap:
		return mdlRes{err: mdlErr(s.Unmap(op.addr, op.length))}
	case mdlProtect:
		return mdlRes{err: mdlErr(s.Protect(op.addr, op.length, op.prot))}
	case mdlFault:
		return mdlRes{err: mdlErr(s.Fault(op.addr, op.acc))}
	case mdlRead:
		buf := make([]byte, op.length)
		n, err := s.ReadAt(buf, op.addr)
		return mdlRes{err: mdlErr(err), n: n, data: buf[:n]}
	}
	n, err := s.WriteAt(op.data, op.addr)
	return mdlRes{err: mdlErr(err), n: n}
}

func mdlSameRes(a, b mdlRes) bool {
	return a.err == b.err && a.addr == b.addr && a.n == b.n && bytes.Equal(a.data, b.data)
}

// mdlGen draws calls. pristine: no writes (nothing gets an anon_vma).
type mdlGen struct {
	rng      *rand.Rand
	pristine bool
}

var mdlProts = [...]Prot{ProtNone, ProtRead, ProtRead | ProtWrite, ProtRead | ProtExec, ProtRead | ProtWrite | ProtExec, ProtWrite}

func (g *mdlGen) rangeArgs() (uint64, uint64) {
	n := 1 + g.rng.IntN(6)
	p := g.rng.IntN(mdlPages - n + 1)
	addr, length := mdlAddr(p), uint64(n)*PageSize
	switch g.rng.IntN(30) {
	case 0:
		length -= uint64(1 + g.rng.IntN(PageSize-1)) // rounded up again
	case 1:
		addr += 8 // unaligned: EINVAL
	case 2:
		length = 0
	}
	return addr, length
}

func (g *mdlGen) op() mdlOp {
	r := g.rng.IntN(100)
	if g.pristine && r >= 85 {
		r -= 15 // no writes
	}
	switch {
	case r < 30:
		addr, length := g.rangeArgs()
		flags := MapPrivate | MapAnonymous
		if g.rng.IntN(4) == 0 {
			flags = MapShared | MapAnonymous
		}
		if g.rng.IntN(10) == 0 {
			flags |= MapNoReserve
		}
		if !g.pristine && g.rng.IntN(10) == 0 {
			flags |= MapPopulate
		}
		switch k := g.rng.IntN(20); {
		case k < 12:
			flags |= MapFixed
		case k < 15:
			flags |= MapFixedNoReplace
		case k < 18: // a hint
		default:
			addr = 0
		}
		return mdlOp{kind: mdlMap, addr: addr, length: length, prot: mdlProts[g.rng.IntN(len(mdlProts))], flags: flags}
	case r < 45:
		addr, length := g.rangeArgs()
		return mdlOp{kind: mdlUnmap, addr: addr, length: length}
	case r < 65:
		addr, length := g.rangeArgs()
		return mdlOp{kind: mdlProtect, addr: addr, length: length, prot: mdlProts[g.rng.IntN(len(mdlProts))]}
	case r < 75:
		acc := Access(g.rng.IntN(3))
		if g.pristine && acc == Write {
			acc = Read
		}
		return mdlOp{kind: mdlFault, addr: mdlBase + g.rng.Uint64N(mdlPages*PageSize), acc: acc}
	case r < 85:
		return mdlOp{kind: mdlRead, addr: mdlBase + g.rng.Uint64N(mdlPages*PageSize), length: uint64(1 + g.rng.IntN(2*PageSize))}
	}
	data := make([]byte, 1+g.rng.IntN(64))
	for i := range data {
		data[i] = byte(g.rng.UintN(256))
	}
	addr := mdlBase + g.rng.Uint64N(mdlPages*PageSize-uint64(len(data)))
	return mdlOp{kind: mdlWrite, addr: addr, data: data}
}

// mdlCompare compares s with m: the layout (exactly when exact is set,
// else page by page), presence and the bytes of every present page.
func mdlCompare(s *Space, m *mdlModel, exact bool) error {
	got := s.Maps()
	for i := range got {
		got[i].Offset = 0 // the model does not track shared objects' offsets
	}
	if exact {
		want := m.areas()
		if !slices.Equal(got, want) {
			return fmt.Errorf("layout:\n got %s\nwant %s", mdlLayout(got), mdlLayout(want))
		}
	} else {
		var pages [mdlPages]mdlPage
		for _, mp := range got {
			lo, hi, ok := mdlPageRange(mp.Start, mp.End-mp.Start)
			if !ok {
				return fmt.Errorf("area [%#x,%#x) outside the window", mp.Start, mp.End)
			}
			for p := lo; p < hi; p++ {
				pages[p] = mdlPage{mapped: true, prot: mp.Prot(), shared: mp.Shared}
			}
		}
		for p := range pages {
			w := &m.pages[p]
			if pages[p] != (mdlPage{mapped: w.mapped, prot: w.prot, shared: w.shared}) {
				return fmt.Errorf("page %d: got %+v, want mapped=%v prot=%v shared=%v\n got %s\nwant %s",
					p, pages[p], w.mapped, w.prot, w.shared, mdlLayout(got), mdlLayout(m.areas()))
			}
		}
	}
	for p := range m.pages {
		w := &m.pages[p]
		in, err := s.Mincore(mdlAddr(p), PageSize)
		switch {
		case !w.mapped:
			if !errors.Is(err, syscall.ENOMEM) {
				return fmt.Errorf("mincore of unmapped page %d: %v, %v", p, in, err)
			}
			continue
		case err != nil || len(in) != 1:
			return fmt.Errorf("mincore of page %d: %v, %v", p, in, err)
		case in[0] != w.present:
			return fmt.Errorf("page %d present %v, want %v", p, in[0], w.present)
		}
		if !w.present {
			continue
		}
		pg := s.pt.Lookup(uint64(mdlAddr(p)-s.base) >> pageShift)
		want := m.data[p]
		got := make([]byte, PageSize)
		s.mem.Read(pg, 0, got) // a word at a time: per byte is slow under -race
		for off := uint64(0); off < PageSize; off++ {
			var wb byte
			if want != nil {
				wb = want[off]
			}
			if b := got[off]; b != wb {
				return fmt.Errorf("page %d byte %#x is %#x, want %#x", p, off, b, wb)
			}
		}
	}
	return nil
}

func mdlLayout(ms []Mapping) string {
	var b []string
	for _, m := range ms {
		b = append(b, fmt.Sprintf("%d-%d %s %#x", (m.Start-mdlBase)/PageSize, (m.End-mdlBase)/PageSize, m.Perms(), uint64(m.Flags)))
	}
	return "[" + strings.Join(b, ", ") + "]"
}

func newMdlSpace(t testing.TB, mode LockMode, recycle bool) *Space {
	t.Helper()
	c := DefaultConfig()
	c.Base, c.End, c.Mode, c.Recycle = mdlBase, mdlAddr(mdlPages), mode, recycle
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mdlRun applies steps random calls to a new space and a model and
// compares them after each.
func mdlRun(t *testing.T, mode LockMode, recycle, pristine bool, seed uint64, steps int) {
	s := newMdlSpace(t, mode, recycle)
	defer s.Close()
	m := newMdlModel()
	g := &mdlGen{rng: rand.New(rand.NewPCG(seed, 0)), pristine: pristine}
	var hist []string
	for i := range steps {
		op := g.op()
		want := m.step(op)
		got := mdlApply(s, op)
		hist = append(hist, fmt.Sprintf("%s -> %v", op, got))
		if !mdlSameRes(got, want) {
			t.Fatalf("seed %d step %d: %s: got %v, model says %v\nhistory:\n  %s", seed, i, op, got, want, strings.Join(hist, "\n  "))
		}
		if err := mdlCompare(s, m, pristine); err != nil {
			t.Fatalf("seed %d step %d after %s: %v\nhistory:\n  %s", seed, i, op, err, strings.Join(hist, "\n  "))
		}
		if err := s.CheckInvariants(true); err != nil {
			t.Fatalf("seed %d step %d after %s: invariants: %v", seed, i, op, err)
		}
	}
}

// TestModelPristine compares exact layouts on never-written memory.
func TestModelPristine(t *testing.T) {
	mdlForAll(t, true)
}

// TestModelWritten compares pages, presence and contents with writes.
func TestModelWritten(t *testing.T) {
	mdlForAll(t, false)
}

func mdlForAll(t *testing.T, pristine bool) {
	seqs, steps := 16, 200
	if testing.Short() || lockcheck.Enabled {
		seqs = 6
	}
	for ci, cfg := range []struct {
		mode    LockMode
		recycle bool
	}{{PerArea, true}, {PerArea, false}, {WholeSpace, true}, {WholeSpace, false}} {
		t.Run(fmt.Sprintf("%v/recycle=%v", cfg.mode, cfg.recycle), func(t *testing.T) {
			for i := range seqs {
				mdlRun(t, cfg.mode, cfg.recycle, pristine, uint64(i)<<4|uint64(ci), steps)
			}
		})
	}
}
