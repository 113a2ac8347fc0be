//go:build linux && amd64

package shadow

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmspace/vmspace"
)

// buildProg compiles testdata/prog.c statically into a temporary
// directory: a static binary makes only the layout calls its source
// shows (and libc's few at start), so each test knows what it exercises.
func buildProg(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: the test program cannot be built")
	}
	bin := filepath.Join(t.TempDir(), "prog")
	out, err := exec.Command(gcc, "-static", "-O1", "-pthread", "-o", bin, "testdata/prog.c").CombinedOutput()
	if err != nil {
		t.Skipf("gcc -static failed (no static libc?): %v\n%s", err, out)
	}
	return bin
}

// run runs args under the shadow, with the program's standard output in
// a file, and returns the report, the exit status, the shadow's lines and
// the program's output.
func run(t *testing.T, o Options) (*Report, int, string, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	o.Out, o.Stdout = &out, f
	rep, code, err := Run(o)
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("ptrace not permitted here: %v", err)
	}
	if err != nil {
		t.Fatalf("Run(%q): %v", o.Args, err)
	}
	prog, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != rep.Final() {
		t.Errorf("last line %q, want the final line %q", last, rep.Final())
	}
	return rep, code, out.String(), string(prog)
}

// TestShadowAnon: the test program's anonymous churn (mmap, munmap,
// mprotect, mremap, madvise, brk, errors, a fork, stack growth, a
// signal) is mirrored with no disagreement, each call compared.
func TestShadowAnon(t *testing.T) {
	bin := buildProg(t)
	rep, code, out, prog := run(t, Options{Args: []string{bin}})
	if rep.Disagreements != 0 || code != 0 {
		t.Fatalf("D=%d exit %d, want 0 and 0:\n%s", rep.Disagreements, code, out)
	}
	if prog != "prog  done\n" {
		t.Errorf("program printed %q", prog)
	}
	// Each round of churn makes 20 layout calls or more, and libc's start
	// a few; the program runs two rounds, its child one.
	if rep.Mirrored < 3*20 {
		t.Errorf("%d calls mirrored, want at least %d", rep.Mirrored, 3*20)
	}
	// Single-threaded: every mirrored call is compared, and so is each
	// fresh mirror (exec) — a fork is both mirrored and compared.
	if rep.Compared != rep.Mirrored+rep.Execs {
		t.Errorf("%d layouts compared, want %d (mirrored) + %d (execs)", rep.Compared, rep.Mirrored, rep.Execs)
	}
	if rep.Forks != 1 || rep.StackGrowths == 0 || rep.WrittenFaults == 0 {
		t.Errorf("forks %d, stack growths %d, written faults %d: want 1, >0, >0", rep.Forks, rep.StackGrowths, rep.WrittenFaults)
	}
}

// TestShadowForkExec: a fork (Space.Fork), a vfork whose child shares the
// parent's mirror and then execs (a fresh mirror from its maps), and exit
// statuses passing through.
func TestShadowForkExec(t *testing.T) {
	bin := buildProg(t)
	rep, code, out, prog := run(t, Options{Args: []string{bin, "exec"}})
	if rep.Disagreements != 0 || code != 0 {
		t.Fatalf("D=%d exit %d, want 0 and 0:\n%s", rep.Disagreements, code, out)
	}
	if prog != "prog child done\nprog exec done\n" {
		t.Errorf("program printed %q", prog)
	}
	if rep.Forks != 2 || rep.SharedVM != 1 || rep.Execs != 2 {
		t.Errorf("forks %d, CLONE_VM children %d, execs %d: want 2, 1, 2", rep.Forks, rep.SharedVM, rep.Execs)
	}
	// The program's own exit status comes back (7 for "child").
	rep, code, out, _ = run(t, Options{Args: []string{bin, "child"}})
	if rep.Disagreements != 0 || code != 7 {
		t.Fatalf("D=%d exit %d, want 0 and 7:\n%s", rep.Disagreements, code, out)
	}
}

// TestShadowThreads: four threads map, write, protect and unmap at once;
// overlapping calls are checked as batches in an order vmspace agrees
// with.
func TestShadowThreads(t *testing.T) {
	bin := buildProg(t)
	rep, code, out, _ := run(t, Options{Args: []string{bin, "threads"}})
	if rep.Disagreements != 0 || code != 0 {
		t.Fatalf("D=%d exit %d, want 0 and 0:\n%s", rep.Disagreements, code, out)
	}
	if rep.SharedVM != 3 {
		t.Errorf("%d CLONE_VM children, want 3 threads", rep.SharedVM)
	}
	// Each mirrored call is compared alone or at the end of its batch.
	if want := rep.Mirrored - rep.Concurrent + rep.Batches + rep.Execs; rep.Compared != want {
		t.Errorf("%d layouts compared, want %d", rep.Compared, want)
	}
	t.Logf("%d calls, %d of them in %d batches", rep.Mirrored, rep.Concurrent, rep.Batches)
}

// TestShadowWrongMirror: a mirror made wrong on purpose (a test hook
// re-protects a page after the program's first mprotect) is caught at the
// comparison right after, with a line that names the call and the first
// differing maps line; the run then exits 3. With --keep-going the mirror
// is rebuilt and every corruption is caught again.
func TestShadowWrongMirror(t *testing.T) {
	bin := buildProg(t)
	var corrupted int
	limit := 1 << 30
	corrupt := func(sp *vmspace.Space, c Call) {
		if c.Nr == sysMprotect && c.Err() == 0 && corrupted < limit {
			corrupted++
			if err := sp.Protect(c.Args[0], pageSize, vmspace.ProtRead|vmspace.ProtWrite|vmspace.ProtExec); err != nil {
				t.Errorf("hook: %v", err)
			}
		}
	}
	rep, code, out, _ := run(t, Options{Args: []string{bin}, afterMirror: corrupt})
	if rep.Disagreements != 1 || code != 0 {
		t.Fatalf("D=%d exit %d, want 1 and the program's 0:\n%s", rep.Disagreements, code, out)
	}
	if got := rep.ExitStatus(code); got != 3 {
		t.Errorf("exit status %d, want 3", got)
	}
	first := strings.SplitN(out, "\n", 2)[0]
	for _, want := range []string{"shadow: disagreement after [pid ", "mprotect(", "first differing maps line", "rwxp", "vmspace ", "kernel "} {
		if !strings.Contains(first, want) {
			t.Errorf("disagreement line %q lacks %q", first, want)
		}
	}
	// --keep-going: each corruption is one disagreement, and the mirror
	// rebuilt from the kernel's maps after it agrees again at once (this
	// also checks the rebuilding). Only the first 6 mprotects, all made
	// before the program forks: a mirror rebuilt in a forked child cannot
	// know which of its areas came from the parent (anon_vma chains that
	// refuse some merges, vma_had_uncowed_parents), and may disagree
	// later for that.
	corrupted, limit = 0, 6
	rep, _, out, _ = run(t, Options{Args: []string{bin}, afterMirror: corrupt, KeepGoing: true})
	var lines int
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "shadow: disagreement") {
			lines++
		}
	}
	if corrupted != 6 || rep.Disagreements != corrupted || lines != corrupted || rep.Resyncs != corrupted {
		t.Errorf("--keep-going: %d corruptions, D=%d, %d lines, %d resyncs; want 6 each:\n%s",
			corrupted, rep.Disagreements, lines, rep.Resyncs, out)
	}
}

// TestShadowMissingCommand: a command that does not exist is an error,
// not a run.
func TestShadowMissingCommand(t *testing.T) {
	_, _, err := Run(Options{Args: []string{"/nonexistent/vmspace-shadow-test"}, Out: &bytes.Buffer{}})
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want a one-line error", err)
	}
}
