package mm

import (
	"bytes"
	"fmt"
	"runtime"
	"syscall"
	"testing"

	"github.com/vmspace/vmspace/internal/arealock"
)

// The tests in this file check the writer's side of the per-area lock: a
// write session that changes an area, or the pages under it, must first
// write-lock it and so wait for the faults that hold it read-locked. Each
// parks a fault between its decision and its access to the page
// (HookBeforeAccess, holding the area read lock), runs the writer, and sees
// which comes first: the writer waiting for that area's readers (correct),
// or the writer returning or changing the area without waiting (the bug).
// Both outcomes are reached without timing, so a bug fails the test at
// once rather than by a hang.

// parked is a fault stopped at HookBeforeAccess.
type parked struct {
	p    *pauser
	a    *Area // the area it holds read-locked
	done chan error
}

// parkFault starts a one-byte write of v at addr (or a read with
// acc == Read) and waits until it holds its area and has chosen its page.
// s must have been made with hooks that call p.at.
func parkFault(t *testing.T, s *Space, p *pauser, addr uint64, acc Access, v byte) *parked {
	t.Helper()
	pk := &parked{p: p, done: make(chan error, 1)}
	p.armed.Store(true)
	go func() {
		var err error
		if acc == Write {
			_, err = s.WriteAt([]byte{v}, addr)
		} else {
			err = s.Fault(addr, acc)
		}
		pk.done <- err
	}()
	pk.a = deadline(t, p.paused, "fault reaching its page")
	return pk
}

// resume lets the parked fault finish and waits for it.
func (pk *parked) resume(t *testing.T) {
	t.Helper()
	close(pk.p.resume)
	if err := deadline(t, pk.done, "parked fault"); err != nil {
		t.Fatalf("parked fault: %v", err)
	}
}

// writerOutcome runs op and reports whether it started waiting for the
// readers of area a before it returned (waited), and, if it returned first,
// its error. It also reports whether a's range or flags had changed by the
// time the writer waited or returned.
type writerOutcome struct {
	waited  bool
	changed string // "" if a was unchanged
	err     error  // op's error, if it returned first
	finish  func() error
}

func runWriter(t *testing.T, a *Area, op func() error) writerOutcome {
	t.Helper()
	before := stateOf(a)
	waiting := make(chan struct{}, 1)
	arealock.SetWaitHook(func(l *arealock.Lock) {
		if l == &a.lock {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}
	})
	t.Cleanup(func() { arealock.SetWaitHook(nil) })
	done := make(chan error, 1)
	go func() { done <- op() }()
	var out writerOutcome
	select {
	case <-waiting:
		out.waited = true
		out.finish = func() error { return deadline(t, done, "writer") }
	case err := <-done:
		out.err = err
		out.finish = func() error { return err }
	}
	// The writer is asleep or finished: its changes so far are visible.
	if st := stateOf(a); st != before {
		out.changed = fmt.Sprintf("[%#x,%#x) %#x became [%#x,%#x) %#x", before.start, before.end, before.flags, st.start, st.end, st.flags)
	}
	return out
}

// check fails t if the writer did not wait for the parked reader first.
func (o writerOutcome) check(t *testing.T, what string) {
	t.Helper()
	switch {
	case o.changed != "":
		t.Errorf("%s changed an area while a fault held it read-locked: %s", what, o.changed)
	case !o.waited:
		t.Errorf("%s returned (%v) while a fault held the area read-locked, without waiting for it", what, o.err)
	}
}

// windowBytes returns the contents of the pages of [addr, addr+n pages)
// read through the space (nil for a page that cannot be read).
func windowBytes(s *Space, addr uint64, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, PageSize)
		if _, err := s.ReadAt(b, addr+uint64(i)*PageSize); err == nil {
			out[i] = b
		}
	}
	return out
}

func diffWindows(a, b [][]byte) string {
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			j := 0
			for j < len(a[i]) && j < len(b[i]) && a[i][j] == b[i][j] {
				j++
			}
			return fmt.Sprintf("page %d differs at byte %d", i, j)
		}
	}
	return ""
}

// TestForkCopiesParentAtFork (blind spot 1: Fork without write-locking the
// parent's areas, the Linux 6.4 fork corruption). A write fault that chose
// to reuse its page in place is parked; Fork runs. Fork must wait for it,
// and the child's memory must equal the parent's at the moment of the fork,
// every byte of every page: if Fork went ahead, the parked write lands in
// the page it just shared with the child.
func TestForkCopiesParentAtFork(t *testing.T) {
	p := newPauser(HookBeforeAccess)
	s := newSpace(t, PerArea, true, &Hooks{At: p.at})
	mustMap(t, s, 0, 3, rw)
	for i := uint64(0); i < 3; i++ {
		if _, err := s.WriteAt([]byte{0xa0 + byte(i), 0xb0 + byte(i)}, tbase+i*pg); err != nil {
			t.Fatal(err)
		}
	}
	pk := parkFault(t, s, p, tbase+1, Write, 0x55)
	var child *Space
	o := runWriter(t, pk.a, func() (err error) { child, err = s.Fork(); return err })
	var atFork [][]byte
	if !o.waited {
		atFork = windowBytes(s, tbase, 3) // the parked write has not landed
	}
	pk.resume(t)
	if err := o.finish(); err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	if o.waited {
		atFork = windowBytes(s, tbase, 3) // it landed before the fork
	}
	o.check(t, "Fork")
	if d := diffWindows(atFork, windowBytes(child, tbase, 3)); d != "" {
		t.Errorf("child differs from the parent at the fork: %s", d)
	}
}

// TestRemapMovesSourceAtMove (blind spot 2: mremap moving pages out of a
// source area it did not write-lock). MREMAP_DONTUNMAP of the first page
// of a two-page area changes neither the area's range nor its flags, so
// only moveArea's own lock keeps a parked write fault from writing into the
// page after it moved. The target must hold what the source held when the
// pages moved.
func TestRemapMovesSourceAtMove(t *testing.T) {
	p := newPauser(HookBeforeAccess)
	s := newSpace(t, PerArea, true, &Hooks{At: p.at})
	mustMap(t, s, 0, 2, rw)
	if _, err := s.WriteAt([]byte{0xaa, 0xbb}, tbase); err != nil {
		t.Fatal(err)
	}
	pk := parkFault(t, s, p, tbase+1, Write, 0x55)
	var to uint64
	o := runWriter(t, pk.a, func() (err error) {
		to, err = s.Remap(tbase, pg, pg, RemapMayMove|RemapDontUnmap, 0)
		return err
	})
	var atMove [][]byte
	if !o.waited {
		atMove = windowBytes(s, to, 1)
	}
	pk.resume(t)
	if err := o.finish(); err != nil {
		t.Fatal(err)
	}
	if o.waited {
		atMove = windowBytes(s, to, 1)
	}
	o.check(t, "Remap")
	if d := diffWindows(atMove, windowBytes(s, to, 1)); d != "" {
		t.Errorf("target changed after the move: %s", d)
	}
	if got := windowBytes(s, tbase, 1)[0]; got[0] != 0 || got[1] != 0 {
		t.Errorf("source of MREMAP_DONTUNMAP holds %x %x, want an empty page", got[0], got[1])
	}
}

// TestStartWriteStampsBeforeReadmitting (blind spot 3): a writer that
// excluded readers must store its stamp before it lets them in again. The
// writer is parked right after its exclusion ends; a reader then tries the
// area. It must see the stamp and fall back to the space lock (where it
// waits for the writer), never get the area lock.
func TestStartWriteStampsBeforeReadmitting(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	mustMap(t, s, 0, 1, rw)
	a := areaAtAddr(s, tbase)
	parkedW, resumeW := make(chan struct{}), make(chan struct{})
	var once bool
	arealock.SetReadmitHook(func(l *arealock.Lock) {
		if l == &a.lock && !once {
			once = true
			close(parkedW)
			<-resumeW
		}
	})
	defer arealock.SetReadmitHook(nil)
	wdone := make(chan error, 1)
	go func() { wdone <- s.Protect(tbase, pg, ro) }()
	deadline(t, parkedW, "writer ending its exclusion")
	aborts := s.Stats().Abort
	type res struct {
		spaceLocked bool
		prot        Prot
		err         error
	}
	rdone := make(chan res, 1)
	go func() {
		h, err := s.LockArea(tbase)
		if err != nil {
			rdone <- res{err: err}
			return
		}
		r := res{spaceLocked: h.spaceLocked, prot: h.Prot()}
		h.Unlock()
		rdone <- r
	}()
	// Either the reader falls back (its lockless try counts an abort,
	// then it blocks on the space lock the writer holds), or it gets in.
	var early *res
	for early == nil && s.Stats().Abort == aborts {
		select {
		case r := <-rdone:
			early = &r
		default:
			runtime.Gosched()
		}
	}
	if early != nil {
		if early.err == nil {
			t.Errorf("a reader got the area lock (space-locked %v) while the writer held the area write-locked", early.spaceLocked)
		} else {
			t.Errorf("LockArea: %v", early.err)
		}
	}
	close(resumeW)
	if err := deadline(t, wdone, "writer"); err != nil {
		t.Fatal(err)
	}
	if early == nil {
		r := deadline(t, rdone, "reader")
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !r.spaceLocked || r.prot != ro {
			t.Errorf("reader: space-locked %v, prot %v; want a fallback that sees the new protection", r.spaceLocked, r.prot)
		}
	}
}

// TestAdviseUnderAreaLockStaysInArea (blind spot 4): MADV_DONTNEED and
// MADV_FREE run under one area's read lock only for a range inside that
// area. A range that runs into the next area must take the slow path,
// which write-locks that area too (so it waits for a fault parked on it),
// and a range with a hole must answer ENOMEM.
func TestAdviseUnderAreaLockStaysInArea(t *testing.T) {
	for _, adv := range []Advice{AdviseDontNeed, AdviseFree} {
		t.Run(fmt.Sprintf("adv=%d/next-area", adv), func(t *testing.T) {
			p := newPauser(HookBeforeAccess)
			s := newSpace(t, PerArea, true, &Hooks{At: p.at})
			mustMap(t, s, 0, 2, rw)
			mustMap(t, s, 2, 2, rw|ProtExec) // does not merge with the first
			for i := uint64(0); i < 4; i++ {
				if _, err := s.WriteAt([]byte{0xa0 + byte(i)}, tbase+i*pg); err != nil {
					t.Fatal(err)
				}
			}
			pk := parkFault(t, s, p, tbase+2*pg+1, Write, 0x55)
			o := runWriter(t, pk.a, func() error { return s.Advise(tbase, 4*pg, adv) })
			pk.resume(t)
			if err := o.finish(); err != nil {
				t.Fatal(err)
			}
			o.check(t, "Advise")
		})
		t.Run(fmt.Sprintf("adv=%d/hole", adv), func(t *testing.T) {
			s := newSpace(t, PerArea, true, nil)
			mustMap(t, s, 0, 2, rw)
			mustMap(t, s, 3, 1, rw)
			for _, i := range []uint64{0, 1, 3} {
				if _, err := s.WriteAt([]byte{0xa0 + byte(i)}, tbase+i*pg); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Advise(tbase, 4*pg, adv); err != syscall.ENOMEM {
				t.Errorf("Advise over a hole: %v, want ENOMEM", err)
			}
		})
	}
}

// TestWriterWaitsForReader: every place that changes an existing area
// write-locks it first. For each, a fault parked on the area that the
// operation changes must make the operation wait. Each case names the lock
// that it tests; removing that one lock makes the case fail.
func TestWriterWaitsForReader(t *testing.T) {
	type tcase struct {
		name  string
		setup func(t *testing.T, s *Space) // layout and pages
		park  uint64                       // page whose area is held
		op    func(s *Space) error
	}
	cases := []tcase{
		{"fork/dup_mmap", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error { c, err := s.Fork(); c.Close(); return err }},
		{"remap-dontunmap/move_vma", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error {
				_, err := s.Remap(tbase, pg, pg, RemapMayMove|RemapDontUnmap, 0)
				return err
			}},
		{"split/__split_vma", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error { return s.Protect(tbase+pg, pg, ro) }},
		{"flags/vma_modify_flags", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error { return s.Advise(tbase, 2*pg, AdviseWipeOnFork) }},
		{"merge-new-left/vma_expand", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error {
				_, err := s.Map(tbase+2*pg, pg, rw, priv|MapFixed)
				return err
			}},
		{"merge-new-right", func(t *testing.T, s *Space) { mustMap(t, s, 2, 2, rw) }, 2,
			func(s *Space) error {
				_, err := s.Map(tbase+pg, pg, rw, priv|MapFixed)
				return err
			}},
		{"merge-existing-prev", func(t *testing.T, s *Space) {
			mustMap(t, s, 0, 2, rw)
			mustMap(t, s, 2, 2, ro)
		}, 0, func(s *Space) error { return s.Protect(tbase+2*pg, 2*pg, rw) }},
		{"merge-existing-next", func(t *testing.T, s *Space) {
			mustMap(t, s, 0, 2, ro)
			mustMap(t, s, 2, 2, rw)
		}, 2, func(s *Space) error { return s.Protect(tbase, 2*pg, rw) }},
		{"merge-existing-middle", func(t *testing.T, s *Space) {
			mustMap(t, s, 0, 2, ro)
			mustMap(t, s, 2, 2, rw)
		}, 0, func(s *Space) error { return s.Protect(tbase+pg, pg, rw) }}, // the middle shrinks
		{"guard-install", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error { return s.Advise(tbase, pg, AdviseGuardInstall) }},
		{"dontneed", func(t *testing.T, s *Space) {
			mustMap(t, s, 0, 2, rw)
			mustMap(t, s, 2, 2, rw|ProtExec)
		}, 2, func(s *Space) error { return s.Advise(tbase, 4*pg, AdviseDontNeed) }},
		{"pageout", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error { return s.Advise(tbase, 2*pg, AdvisePageout) }},
		{"stack/expand_downwards", func(t *testing.T, s *Space) {
			if _, err := s.Map(tbase+4*pg, 2*pg, rw, priv|MapFixed|MapGrowsDown); err != nil {
				t.Fatal(err)
			}
		}, 4, func(s *Space) error { return s.Fault(tbase+3*pg, Write) }},
		{"unmap/detach", func(t *testing.T, s *Space) { mustMap(t, s, 0, 2, rw) }, 0,
			func(s *Space) error { return s.Unmap(tbase, 2*pg) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPauser(HookBeforeAccess)
			s := newSpace(t, PerArea, true, &Hooks{At: p.at})
			c.setup(t, s)
			for _, it := range s.Maps() {
				for addr := it.Start; addr < it.End; addr += pg {
					if it.Prot()&ProtWrite != 0 {
						if _, err := s.WriteAt([]byte{0xaa}, addr); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			pk := parkFault(t, s, p, tbase+c.park*pg+1, Read, 0)
			o := runWriter(t, pk.a, func() error { return c.op(s) })
			pk.resume(t)
			if err := o.finish(); err != nil {
				t.Fatal(err)
			}
			o.check(t, c.name)
		})
	}
}
