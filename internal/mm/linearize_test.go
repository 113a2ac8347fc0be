package mm

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/vmspace/vmspace/internal/lockcheck"
)

// Linearizability: goroutines run faults, byte reads and byte writes
// against fixed maps, unmaps and protects of whole pages on a tiny window;
// the history of calls and returns is checked with porcupine against a
// sequential model of the window that knows nothing of areas: per page,
// mapped or not, its protection and one byte.
//
// The model is Linux's semantics for these simple calls:
//   - map (MAP_FIXED, private or shared): the pages become mapped with the
//     protection and zero contents;
//   - unmap: the pages become unmapped (never an error here);
//   - protect: from the first page on, each mapped page gets the
//     protection; the first unmapped page stops it with ENOMEM, and the
//     pages before it stay changed;
//   - fault, read, write: SEGV_MAPERR on an unmapped page, SEGV_ACCERR when
//     the protection forbids the access (x86: a read needs any of rwx, a
//     write w, an exec x), else success; a write sets the byte, a read
//     returns it.
//
// A history is linearizable if some order of the calls, consistent with
// real time, explains every result. Every call on the space is atomic in
// the design (a write session publishes its tree at once; a fault and the
// access it makes run under one lock), so every history must be.

var linHistories = flag.Int("lin.histories", 0, "histories per configuration in TestLinearizable (default 400, 25 with -short or the lock validator)")

const (
	linPages   = 6
	linClients = 4
	linOps     = 40 // per client
	linBase    = 0x7f0000000000
)

type linKind uint8

const (
	linMap linKind = iota
	linMapShared
	linUnmap
	linProtect
	linFault
	linRead
	linWrite
)

var linKindNames = [...]string{"map", "map-shared", "unmap", "protect", "fault", "read", "write"}

// linIn is one call.
type linIn struct {
	kind    linKind
	page, n int
	prot    Prot
	acc     Access
	val     byte // write
}

// linOut is a call's result.
type linOut struct {
	code linCode
	val  byte // read
}

type linCode uint8

const (
	linOK linCode = iota
	linENOMEM
	linMapErr
	linAccErr
)

var linCodeNames = [...]string{"ok", "ENOMEM", "MAPERR", "ACCERR"}

// linPage is the model of one page.
type linPage struct {
	mapped bool
	prot   Prot
	val    byte
}

type linState [linPages]linPage

func linPermits(p Prot, acc Access) bool {
	switch acc {
	case Write:
		return p&ProtWrite != 0
	case Exec:
		return p&ProtExec != 0
	}
	return p != 0
}

// linStep is the sequential model: the state after in, and the output the
// call must have given.
func linStep(st linState, in linIn) (linState, linOut) {
	switch in.kind {
	case linMap, linMapShared:
		for p := in.page; p < in.page+in.n; p++ {
			st[p] = linPage{mapped: true, prot: in.prot}
		}
	case linUnmap:
		for p := in.page; p < in.page+in.n; p++ {
			st[p] = linPage{}
		}
	case linProtect:
		for p := in.page; p < in.page+in.n; p++ {
			if !st[p].mapped {
				return st, linOut{code: linENOMEM}
			}
			st[p].prot = in.prot
		}
	case linFault, linRead, linWrite:
		acc := in.acc
		switch in.kind {
		case linRead:
			acc = Read
		case linWrite:
			acc = Write
		}
		pg := &st[in.page]
		switch {
		case !pg.mapped:
			return st, linOut{code: linMapErr}
		case !linPermits(pg.prot, acc):
			return st, linOut{code: linAccErr}
		}
		switch in.kind {
		case linRead:
			return st, linOut{val: pg.val}
		case linWrite:
			pg.val = in.val
		}
	}
	return st, linOut{}
}

var linModel = porcupine.Model{
	Init: func() any {
		var st linState
		for p := range st {
			st[p] = linPage{mapped: true, prot: ProtRead | ProtWrite}
		}
		return st
	},
	Step: func(state, input, output any) (bool, any) {
		next, want := linStep(state.(linState), input.(linIn))
		return want == output.(linOut), next
	},
	Hash: func(state any) uint64 {
		st := state.(linState)
		h := uint64(14695981039346656037)
		for _, p := range st {
			v := uint64(p.prot)<<9 | uint64(p.val)
			if p.mapped {
				v |= 1 << 8
			}
			h = (h ^ v) * 1099511628211
		}
		return h
	},
	DescribeOperation: func(input, output any) string {
		return linDescribe(input.(linIn), output.(linOut))
	},
}

func linDescribe(in linIn, out linOut) string {
	var s string
	switch in.kind {
	case linMap, linMapShared, linProtect:
		s = fmt.Sprintf("%s(%d+%d, %v)", linKindNames[in.kind], in.page, in.n, in.prot)
	case linUnmap:
		s = fmt.Sprintf("unmap(%d+%d)", in.page, in.n)
	case linFault:
		s = fmt.Sprintf("fault(%d, %v)", in.page, in.acc)
	case linRead:
		s = fmt.Sprintf("read(%d)", in.page)
	case linWrite:
		s = fmt.Sprintf("write(%d, %#x)", in.page, in.val)
	}
	r := linCodeNames[out.code]
	if in.kind == linRead && out.code == linOK {
		r = fmt.Sprintf("%#x", out.val)
	}
	return s + " -> " + r
}

var linProts = [...]Prot{ProtNone, ProtRead, ProtRead | ProtWrite, ProtRead | ProtExec, ProtWrite}

// linRandIn draws a call: mostly accesses, a third layout changes.
func linRandIn(rng *rand.Rand, client int, seq *byte) linIn {
	in := linIn{page: rng.IntN(linPages)}
	switch k := rng.IntN(12); {
	case k < 2:
		in.kind = linMap
		if rng.IntN(3) == 0 {
			in.kind = linMapShared
		}
	case k < 3:
		in.kind = linUnmap
	case k < 5:
		in.kind = linProtect
	case k < 7:
		in.kind = linFault
		in.acc = Access(rng.IntN(3))
	case k < 9:
		in.kind = linRead
	default:
		in.kind = linWrite
		*seq++
		in.val = byte(client)<<6 | *seq&0x3f | 1 // distinct per client, never 0
	}
	if in.kind <= linProtect {
		in.n = 1 + rng.IntN(linPages-in.page)
		in.prot = linProts[rng.IntN(len(linProts))]
	}
	return in
}

// linApply runs in on s. A result outside the model's vocabulary fails
// the test at once.
func linApply(t *testing.T, s *Space, in linIn) linOut {
	addr := uint64(linBase) + uint64(in.page)*PageSize
	length := uint64(in.n) * PageSize
	var err error
	var out linOut
	switch in.kind {
	case linMap, linMapShared:
		f := MapPrivate | MapAnonymous | MapFixed
		if in.kind == linMapShared {
			f = MapShared | MapAnonymous | MapFixed
		}
		var got uint64
		got, err = s.Map(addr, length, in.prot, f)
		if err == nil && got != addr {
			t.Errorf("map at %#x returned %#x", addr, got)
		}
	case linUnmap:
		err = s.Unmap(addr, length)
	case linProtect:
		err = s.Protect(addr, length, in.prot)
	case linFault:
		err = s.Fault(addr, in.acc)
	case linRead:
		var b [1]byte
		_, err = s.ReadAt(b[:], addr)
		out.val = b[0]
	case linWrite:
		_, err = s.WriteAt([]byte{in.val}, addr)
	}
	var fe *FaultError
	switch {
	case err == nil:
	case errors.As(err, &fe) && fe.Code == MapErr:
		out = linOut{code: linMapErr}
	case errors.As(err, &fe) && fe.Code == AccErr:
		out = linOut{code: linAccErr}
	case errors.Is(err, syscall.ENOMEM) && in.kind == linProtect:
		out = linOut{code: linENOMEM}
	default:
		t.Errorf("%s: unexpected error %v", linDescribe(in, linOut{}), err)
	}
	return out
}

// linHistory records one history on a fresh space.
func linHistory(t *testing.T, mode LockMode, recycle bool, seed uint64) []porcupine.Operation {
	c := DefaultConfig()
	c.Base, c.End = linBase, linBase+linPages*PageSize
	c.Mode, c.Recycle = mode, recycle
	// Yield now and then at the hook points so that calls overlap inside
	// the protocol's windows, not only between calls.
	c.Hooks = &Hooks{At: func(HookPoint, *Area) {
		if rand.IntN(4) == 0 {
			runtime.Gosched()
		}
	}}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Map(linBase, linPages*PageSize, ProtRead|ProtWrite, MapPrivate|MapAnonymous|MapFixed); err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	ops := make([][]porcupine.Operation, linClients)
	var start, wg sync.WaitGroup
	start.Add(1)
	for cl := range linClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(cl)))
			var seq byte
			start.Wait()
			for range linOps {
				in := linRandIn(rng, cl, &seq)
				call := clock.Add(1)
				out := linApply(t, s, in)
				ret := clock.Add(1)
				ops[cl] = append(ops[cl], porcupine.Operation{ClientId: cl, Input: in, Call: call, Output: out, Return: ret})
				if rng.IntN(4) == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	start.Done()
	wg.Wait()
	if err := s.CheckInvariants(true); err != nil {
		t.Errorf("invariants after the history: %v", err)
	}
	var all []porcupine.Operation
	for _, o := range ops {
		all = append(all, o...)
	}
	return all
}

// TestLinearizable checks histories in every configuration. It also
// counts how many histories had overlapping calls that the model had to
// order, so that a run that happened to be sequential is visible.
func TestLinearizable(t *testing.T) {
	n := *linHistories
	if n == 0 {
		n = 400
		if testing.Short() || lockcheck.Enabled {
			n = 25
		}
	}
	for ci, cfg := range []struct {
		mode    LockMode
		recycle bool
	}{{PerArea, true}, {PerArea, false}, {WholeSpace, true}, {WholeSpace, false}} {
		t.Run(fmt.Sprintf("%v/recycle=%v", cfg.mode, cfg.recycle), func(t *testing.T) {
			begin := time.Now()
			overlapping := 0
			for i := range n {
				seed := uint64(i)<<8 | uint64(ci)
				h := linHistory(t, cfg.mode, cfg.recycle, seed)
				if t.Failed() {
					return
				}
				if linOverlaps(h) {
					overlapping++
				}
				res, info := porcupine.CheckOperationsVerbose(linModel, h, 0)
				if res != porcupine.Ok {
					t.Fatalf("history %d (seed %d) is not linearizable (%v):\n%s", i, seed, res, linDump(h, info))
				}
			}
			t.Logf("%d histories of %d calls linearizable (%d with overlapping calls) in %v",
				n, linClients*linOps, overlapping, time.Since(begin).Round(time.Millisecond))
		})
	}
}

// linOverlaps reports whether two calls of different clients overlapped.
func linOverlaps(h []porcupine.Operation) bool {
	for i := range h {
		for j := range h {
			if h[i].ClientId != h[j].ClientId && h[i].Call < h[j].Call && h[j].Call < h[i].Return {
				return true
			}
		}
	}
	return false
}

// linDump renders a failed history: every call in call order and the
// longest prefix porcupine could linearize.
func linDump(h []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var b strings.Builder
	byCall := append([]porcupine.Operation(nil), h...)
	for i := 1; i < len(byCall); i++ {
		for j := i; j > 0 && byCall[j].Call < byCall[j-1].Call; j-- {
			byCall[j], byCall[j-1] = byCall[j-1], byCall[j]
		}
	}
	for _, o := range byCall {
		fmt.Fprintf(&b, "  [%4d,%4d] c%d %s\n", o.Call, o.Return, o.ClientId, linDescribe(o.Input.(linIn), o.Output.(linOut)))
	}
	for _, part := range info.PartialLinearizationsOperations() {
		longest := []porcupine.Operation(nil)
		for _, lin := range part {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
		fmt.Fprintf(&b, "longest linearizable prefix (%d calls):\n", len(longest))
		for _, o := range longest {
			fmt.Fprintf(&b, "  c%d %s\n", o.ClientId, linDescribe(o.Input.(linIn), o.Output.(linOut)))
		}
	}
	return b.String()
}
