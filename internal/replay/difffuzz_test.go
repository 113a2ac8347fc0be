package replay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vmspace/vmspace/internal/kernel"
	"github.com/vmspace/vmspace/internal/mm"
	"github.com/vmspace/vmspace/internal/script"
)

// The differential fuzzer: random scripts (script.Generate) run on the
// real kernel (package kernel, in this very process) and on vmspace, and
// the transcripts must be the same bytes.
//
// Two kinds of script are left out, not counted as disagreements:
//   - those the kernel engine refuses (kernel.ErrOutsideArena: the call
//     could reach memory of this process outside the engine's arena;
//     kernel.ErrNoBrk: a heap line where the process's break is not the
//     engine's to use, as in every -race build, whose glibc shares it);
//   - those the kernel itself answers differently on two runs. None is
//     known today; the second run guards the fuzzer against a flaky
//     oracle (MADV_PAGEOUT, for one, depends on per-CPU LRU batches).

// diffLines is the length of a generated script: VMSPACE_DIFF_LINES, or
// 48 lines.
var diffLines = func() int {
	if n, err := strconv.Atoi(os.Getenv("VMSPACE_DIFF_LINES")); err == nil && n > 0 {
		return n
	}
	return 48
}()

// diffScript is the script of a seed: the same seed, the same script.
func diffScript(seed uint64) string {
	return script.Generate(rand.New(rand.NewPCG(seed, 0x766d7370)), diffLines)
}

// runOps runs src on e one line at a time, as script.Run does, and gives
// each line's transcript. before, if not nil, runs before each call.
func runOps(e script.Engine, src string, before func(i int, op script.Op)) ([]string, error) {
	var out []string
	for i, line := range strings.Split(strings.TrimSuffix(src, "\n"), "\n") {
		op, err := script.Parse(line)
		if err != nil {
			out = append(out, op.Line+" -> PARSE_ERROR")
			continue
		}
		if before != nil {
			before(i, op)
		}
		text, err := script.Exec(e, op)
		if err != nil {
			return out, fmt.Errorf("line %d %q: %w", i+1, op.Line, err)
		}
		out = append(out, text)
	}
	return out, nil
}

// runKernel runs src on a fresh kernel engine; ok is false when the engine
// refused a call.
func runKernel(t testing.TB, src string) (out []string, ok bool) {
	t.Helper()
	out, err := runKernelErr(t, src)
	return out, err == nil
}

// runKernelErr is runKernel, saying why the engine refused:
// kernel.ErrOutsideArena or kernel.ErrNoBrk.
func runKernelErr(t testing.TB, src string) (out []string, refused error) {
	t.Helper()
	e, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	out, err = runOps(e, src, nil)
	if err != nil {
		for _, refused := range []error{kernel.ErrOutsideArena, kernel.ErrNoBrk} {
			if errors.Is(err, refused) {
				return nil, refused
			}
		}
		t.Fatalf("kernel: %v\n%s", err, src)
	}
	return out, nil
}

// touchReadsFirst reports whether the kernel engine's touch reads the
// byte before it writes it. It does in a -race build: the compiler puts an
// explicit nil check, a load, before the race detector's call that
// precedes the store, so a touch of a readable page that may not be
// written maps the zero page before it faults, and mincore shows it. The
// fuzzer then has vmspace read before each touch too, which is what the
// oracle really did. Probed once, on the engine itself.
var touchReadsFirst = sync.OnceValue(func() bool {
	e, err := kernel.New()
	if err != nil {
		return false
	}
	defer e.Close()
	if _, _, err := e.Mmap(0, 0x1000, script.ProtRead, script.FlagPrivate|script.FlagFixed); err != nil {
		return false
	}
	_ = e.Touch(0, 1)
	in, err := e.Mincore(0, 0x1000)
	return err == nil && in[0]
})

// runSpace runs src on a new vmspace space. execOnly marks the reads of
// an exec-only area (see sameAnswer).
func runSpace(t testing.TB, src string, mode mm.LockMode, recycle bool) (out []string, execOnly map[int]bool) {
	t.Helper()
	o := HostOptions(needKernel(t))
	o.Mode, o.Recycle = mode, recycle
	return runSpaceWith(t, src, o)
}

// runSpaceWith is runSpace on a space with the settings o.
func runSpaceWith(t testing.TB, src string, o Options) (out []string, execOnly map[int]bool) {
	t.Helper()
	e, err := NewWith(o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	execOnly = map[int]bool{}
	readFirst := touchReadsFirst()
	out, err = runOps(e, src, func(i int, op script.Op) {
		if op.Kind == script.OpTouch && readFirst {
			_, _ = e.Read(op.Off)
		}
		if op.Kind != script.OpRead {
			return
		}
		for _, m := range e.S.Maps() {
			if m.Start <= Base+op.Off && Base+op.Off < m.End && m.Prot() == mm.ProtExec {
				execOnly[i] = true
			}
		}
	})
	if err != nil {
		t.Fatalf("vmspace: %v\n%s", err, src)
	}
	if err := e.S.CheckInvariants(true); err != nil {
		t.Fatalf("vmspace invariants after the script: %v\n%s", err, src)
	}
	return out, execOnly
}

// sameAnswer compares one line's transcripts. One difference is not a
// disagreement: a read of an exec-only (--x) area that faults past the
// end of a shared object. The CPU lets the read through (no protection
// keys here: a read of --x memory succeeds on this machine) and the kernel
// sends SIGBUS, as vmspace answers; the kernel engine, which cannot see
// the signal, guesses a protection-key fault and prints SEGV_ACCERR.
func sameAnswer(k, v string, execOnlyRead bool) bool {
	if k == v {
		return true
	}
	line, _, _ := strings.Cut(k, " -> ")
	return execOnlyRead && k == line+" -> EFAULT SEGV_ACCERR" && v == line+" -> SIGBUS"
}

// diffOne runs the script of seed on both sides. It reports whether the
// script counted (was not left out), and describes a disagreement in bad.
func diffOne(t testing.TB, seed uint64) (counted bool, bad string) {
	t.Helper()
	src := diffScript(seed)
	want, ok := runKernel(t, src)
	if !ok {
		return false, ""
	}
	if again, ok := runKernel(t, src); !ok || !slices.Equal(again, want) {
		t.Logf("seed %d: the kernel answers differently on two runs; left out", seed)
		return false, ""
	}
	// Lock mode and recycling do not change answers; vary them by seed.
	mode := mm.PerArea
	if seed%3 == 2 {
		mode = mm.WholeSpace
	}
	got, execOnly := runSpace(t, src, mode, seed%2 == 0)
	for i := range want {
		if i >= len(got) || !sameAnswer(want[i], got[i], execOnly[i]) {
			return true, fmt.Sprintf("seed %d (%v): vmspace disagrees with the kernel:\n%s\nscript:\n%s",
				seed, mode, diff(strings.Join(want, "\n"), strings.Join(got, "\n")), src)
		}
	}
	return true, ""
}

// needKernel skips unless the kernel engine can run here and vmspace can
// be configured like this host (naming the setting when it cannot), and
// returns what the host probe found. The first call logs it.
func needKernel(t testing.TB) kernel.Host {
	t.Helper()
	if !kernel.Supported() {
		t.Skip("the kernel oracle needs Linux with 4 KiB pages")
	}
	h, err := kernel.ProbeHost()
	if err != nil {
		t.Fatal(err)
	}
	logHost.Do(func() { t.Log(h) })
	if m := h.Unmatched(); len(m) > 0 {
		t.Skip("vmspace cannot be configured like this host: " + strings.Join(m, "; "))
	}
	return h
}

var logHost sync.Once

// diffCount is the number of scripts TestDifferentialSeeded runs:
// VMSPACE_DIFF_N, or a default that keeps the test under 30 s under -race
// on two cores.
func diffCount(t *testing.T) int {
	if s := os.Getenv("VMSPACE_DIFF_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("VMSPACE_DIFF_N=%q: want a count", s)
		}
		return n
	}
	if testing.Short() {
		return 200
	}
	if raceEnabled {
		return 3000
	}
	return 5000
}

// TestDifferentialSeeded runs the scripts of seeds 0 .. N-1 on both sides
// (VMSPACE_DIFF_SEED0 moves the first seed).
func TestDifferentialSeeded(t *testing.T) {
	needKernel(t)
	n := diffCount(t)
	var first uint64
	if s := os.Getenv("VMSPACE_DIFF_SEED0"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("VMSPACE_DIFF_SEED0=%q: %v", s, err)
		}
		first = v
	}
	// VMSPACE_DIFF_KEEPGOING=1 reports up to 50 disagreements instead of
	// stopping at the first, for hunting.
	keepGoing := os.Getenv("VMSPACE_DIFF_KEEPGOING") != ""
	counted, failed := 0, 0
	for seed := first; seed < first+uint64(n); seed++ {
		ok, bad := diffOne(t, seed)
		if ok {
			counted++
		}
		if bad == "" {
			continue
		}
		if !keepGoing {
			t.Fatal(bad)
		}
		t.Error(bad)
		if failed++; failed == 50 {
			t.FailNow()
		}
	}
	t.Logf("%d scripts of %d lines run on both sides, %d disagreed (%d left out)", counted, diffLines, failed, n-counted)
}

// FuzzDifferential is the same comparison driven by go test -fuzz, one
// int64 seed per input.
func FuzzDifferential(f *testing.F) {
	for _, s := range []int64{0, 1, 2, 42, 1 << 40, -1} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed int64) {
		needKernel(t)
		if _, bad := diffOne(t, uint64(seed)); bad != "" {
			t.Fatal(bad)
		}
	})
}
