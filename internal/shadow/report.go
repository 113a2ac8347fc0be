package shadow

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Report counts what a shadow run mirrored, compared and could not know.
type Report struct {
	Mirrored      int // layout calls applied to vmspace (N)
	Compared      int // layouts compared with /proc/PID/maps (M)
	Disagreements int // D

	// What the mirror took from /proc/PID/maps instead of mirroring.
	Seeds         int // spaces built from /proc/PID/maps (exec, and resyncs)
	SeedFileAreas int // file areas taken from maps at a seed
	SeedSpecial   int // [vdso], [vvar]... taken from maps
	SeedAnonAreas int // anonymous areas (stack, bss, heap) taken from maps
	FileMaps      int // file mmaps mirrored (MapFile)
	StackGrowths  int // stack growth by faults, mirrored by a fault below the stack
	WrittenFaults int // areas given their anon_vma by a write fault after pagemap showed a written page
	WrittenMissed int // written pages the mirror could not fault (area not writable there)
	Concurrent    int // calls that overlapped another thread's layout call
	Batches       int // batches of overlapping calls, each compared once at its end
	Forks         int // forked children given Space.Fork of their parent
	SharedVM      int // clone/vfork with CLONE_VM: the child shares its parent's mirror
	Execs         int
	Resyncs       int            // mirrors rebuilt after a disagreement (--keep-going)
	Unmirrored    map[string]int // successful layout calls not mirrored (mirror rebuilt from maps)
}

// notes writes what the run took from the kernel rather than mirrored,
// one "shadow: note:" line each, before the final line.
func (r *Report) notes(w io.Writer) {
	fmt.Fprintf(w, "shadow: note: %d spaces built from /proc/PID/maps (%d execs, %d resyncs): %d anonymous areas, %d file areas, %d special areas ([vdso], [vvar]) taken from the kernel\n",
		r.Seeds, r.Execs, r.Resyncs, r.SeedAnonAreas, r.SeedFileAreas, r.SeedSpecial)
	fmt.Fprintf(w, "shadow: note: %d of the mirrored calls were file mmaps (MapFile); special areas are placeholders listed as the kernel lists them\n", r.FileMaps)
	fmt.Fprintf(w, "shadow: note: %d stack growths and %d written areas (pagemap) faulted into the mirror, %d written pages not faultable\n",
		r.StackGrowths, r.WrittenFaults, r.WrittenMissed)
	fmt.Fprintf(w, "shadow: note: %d forks (Space.Fork), %d CLONE_VM children sharing a mirror; %d calls overlapped another thread's, in %d batches each compared once at its end, in the first serial order vmspace agrees with\n",
		r.Forks, r.SharedVM, r.Concurrent, r.Batches)
	if len(r.Unmirrored) > 0 {
		var parts []string
		for n, c := range r.Unmirrored {
			parts = append(parts, fmt.Sprintf("%s %d", n, c))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "shadow: note: layout calls not mirrored (mirror rebuilt from maps after each): %s\n", strings.Join(parts, ", "))
	}
}

// Final returns the last line of a run.
func (r *Report) Final() string {
	return fmt.Sprintf("shadow: %d calls mirrored, %d layouts compared, %d disagreements", r.Mirrored, r.Compared, r.Disagreements)
}

// add counts in another report's side counters (a batch's, once its
// order is chosen).
func (r *Report) add(o *Report) {
	r.FileMaps += o.FileMaps
	r.StackGrowths += o.StackGrowths
	r.WrittenFaults += o.WrittenFaults
	r.WrittenMissed += o.WrittenMissed
}

// ExitStatus is the shadow's exit status: the program's own when vmspace
// and the kernel agreed throughout, 3 otherwise.
func (r *Report) ExitStatus(program int) int {
	if r.Disagreements > 0 {
		return 3
	}
	return program
}
