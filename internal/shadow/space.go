package shadow

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/vmspace/vmspace"
)

const pageSize = vmspace.PageSize

// vmGrowsDown is VM_GROWSDOWN in an area's flags.
const vmGrowsDown vmspace.Flags = 0x100

// userEnd is the end of x86-64's user range (TASK_SIZE_MAX); areas above
// it ([vsyscall]) are the kernel's and outside any Space.
const userEnd = 1<<47 - pageSize

func pageAlign(n uint64) uint64 { return (n + pageSize - 1) &^ (pageSize - 1) }

// space is the mirror of one process's address space: a vmspace.Space and
// what the shadow knows beside it. The tasks sharing an mm (threads,
// CLONE_VM children) share one space. Only the tracing goroutine touches
// it.
type space struct {
	sp    *vmspace.Space
	files fileSet // placeholder ranges standing for file and special areas

	// base rebuilds the space as it was made (seed or fork); log holds
	// every change since, so that clone can rebuild it.
	base func() (*vmspace.Space, error)
	log  []step

	mmapBase   uint64 // the kernel's mmap_base as read at exec
	stackLimit uint64 // RLIMIT_STACK as read at exec
	startBrk   uint64 // mm->start_brk, read at exec
	// kernelBrk is the kernel's break: start_brk after exec, then its
	// answer to each brk. A rebuilt mirror takes it as its break.
	kernelBrk uint64

	// written holds the kernel areas (start, end) already known to hold a
	// written page, whose mirror was given its anon_vma.
	written map[[2]uint64]bool

	inflight int           // tasks of this space between entry and exit of a layout call
	pending  []pendingCall // calls of a batch of overlapping ones, until it ends
	users    int           // tasks using this space
}

func (s *space) close() {
	if s.sp != nil {
		s.sp.Close()
		s.sp = nil
	}
}

// fork returns the child's mirror as fork makes it (dup_mmap).
func (s *space) fork() (*space, error) {
	c, err := s.sp.Fork()
	if err != nil {
		return nil, err
	}
	w := make(map[[2]uint64]bool, len(s.written))
	for k, v := range s.written {
		w[k] = v
	}
	pbase, plog := s.base, s.log[:len(s.log):len(s.log)]
	base := func() (*vmspace.Space, error) {
		p, err := build(pbase, plog)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		return p.Fork()
	}
	return &space{sp: c, base: base, files: s.files.clone(), mmapBase: s.mmapBase, stackLimit: s.stackLimit,
		startBrk: s.startBrk, kernelBrk: s.kernelBrk, written: w}, nil
}

// mmapBaseOf guesses the kernel's mmap_base from a layout made by exec: the
// kernel placed the interpreter (or, for a static binary, the vDSO) top
// down from mmap_base, so the highest end below the stack is mmap_base.
func mmapBaseOf(lines []Line) uint64 {
	stack := uint64(userEnd)
	for _, l := range lines {
		if l.Path == "[stack]" {
			stack = l.Start
		}
	}
	var base uint64
	for _, l := range lines {
		if l.End <= stack && l.End > base {
			base = l.End
		}
	}
	if base == 0 {
		base = stack
	}
	return base
}

// step is one change made to a mirror. A mirror keeps the steps that
// made it (its base, then its log) so that it can be rebuilt: the shadow
// tries the orders a batch of concurrent calls could have run in on
// rebuilt copies (vmspace has no copy that keeps a space's history as
// it is: Fork is fork's, and leaves out DONTFORK areas).
type step func(sp *vmspace.Space) (uint64, error)

// op runs one change on the mirror and logs it.
func (s *space) op(f step) (uint64, error) {
	s.log = append(s.log, f)
	return f(s.sp)
}

// build makes a Space from a base and the steps logged after it.
func build(base func() (*vmspace.Space, error), log []step) (*vmspace.Space, error) {
	sp, err := base()
	if err != nil {
		return nil, err
	}
	for _, f := range log {
		f(sp) // deterministic: the same answers as when first run
	}
	return sp, nil
}

// clone returns a copy of the mirror, rebuilt from its steps.
func (s *space) clone() (*space, error) {
	sp, err := build(s.base, s.log)
	if err != nil {
		return nil, err
	}
	c := *s
	c.sp = sp
	c.files = s.files.clone()
	c.log = s.log[:len(s.log):len(s.log)]
	c.written = make(map[[2]uint64]bool, len(s.written))
	for k, v := range s.written {
		c.written[k] = v
	}
	return &c, nil
}

// seed builds a space from the kernel's layout of pid, as exec left it (or
// as it is, for a resync): anonymous and file areas mapped as such, with
// the flags smaps shows and an anon_vma where pagemap shows a written
// page; special areas ([vdso], [vvar]) as placeholders; the heap's start
// and break. like the kernel's. base carries what the process's exec
// fixed: mmap_base (0: guess it from lines), RLIMIT_STACK, start_brk and
// the break.
func seed(pid int, lines []Line, base space, r *Report) (*space, error) {
	if base.mmapBase == 0 {
		base.mmapBase = mmapBaseOf(lines)
	}
	s := &space{mmapBase: base.mmapBase, stackLimit: base.stackLimit, startBrk: base.startBrk,
		kernelBrk: base.kernelBrk, written: map[[2]uint64]bool{}}
	vmFlags, _ := readVmFlags(pid) // without it (a race with exit) areas get Map's flags
	var steps []step
	for i, l := range lines {
		if l.End > userEnd {
			continue
		}
		prot := permsProt(l.Perms)
		start, length := l.Start, l.End-l.Start
		mapFixed := func(p vmspace.Prot, f vmspace.MapFlags) step {
			return func(sp *vmspace.Space) (uint64, error) { return sp.Map(start, length, p, f|vmspace.MapFixed) }
		}
		vf := vmFlags[l.Start]
		switch {
		case l.special():
			steps = append(steps, mapFixed(prot, vmspace.MapShared|vmspace.MapAnonymous))
			s.files.add(l.Start, l.End, fileInfo{Offset: l.Offset, Dev: l.Dev, Inode: l.Inode, Path: l.Path, Private: l.Perms[3] == 'p'})
			r.SeedSpecial++
		case l.anon() && l.Perms[3] == 's':
			steps = append(steps, mapFixed(prot, vmspace.MapShared|vmspace.MapAnonymous))
			r.SeedAnonAreas++
		case l.anon() && l.Path == "[stack]":
			steps = append(steps, mapFixed(prot, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapGrowsDown))
			if prot&vmspace.ProtWrite != 0 {
				top := l.End - pageSize // a stack always has an anon_vma
				steps = append(steps, func(sp *vmspace.Space) (uint64, error) { return 0, sp.Fault(top, vmspace.Write) })
			}
			r.SeedAnonAreas++
		case !l.anon() && l.Perms[3] == 's':
			f, off := lineFile(pid, l, vf), l.Offset
			steps = append(steps, func(sp *vmspace.Space) (uint64, error) {
				return sp.MapFile(start, length, prot, vmspace.MapShared|vmspace.MapFixed, f, off)
			})
			r.SeedFileAreas++
		default:
			var f vmspace.File
			if !l.anon() {
				f = lineFile(pid, l, vf)
				r.SeedFileAreas++
			} else {
				r.SeedAnonAreas++
			}
			var prev, next *Line
			if i > 0 {
				prev = &lines[i-1]
			}
			if i+1 < len(lines) {
				next = &lines[i+1]
			}
			steps = append(steps, s.seedPrivate(pid, l, prot, vf, f, like(prev, &l), like(&l, next))...)
		}
	}
	steps = append(steps, func(sp *vmspace.Space) (uint64, error) {
		sp.SetBrk(base.startBrk, base.kernelBrk)
		return 0, nil
	})
	// The host's kernel has transparent huge pages configured in (the
	// shadow's only host so far; a kernel without them would need this
	// off): large anonymous and file mappings are placed aligned.
	opts := []vmspace.Option{vmspace.WithMmapBase(base.mmapBase), vmspace.WithTHPAlign(true)}
	if base.stackLimit != 0 && base.stackLimit < 1<<62 {
		opts = append(opts, vmspace.WithStackLimit(base.stackLimit))
	}
	s.base = func() (*vmspace.Space, error) {
		sp, err := vmspace.New(opts...)
		if err != nil {
			return nil, err
		}
		for _, f := range steps {
			if _, err := f(sp); err != nil {
				sp.Close()
				return nil, fmt.Errorf("building the mirror of %d from its maps: %v", pid, err)
			}
		}
		return sp, nil
	}
	sp, err := s.base()
	if err != nil {
		return nil, err
	}
	s.sp = sp
	r.Seeds++
	return s, nil
}

// like reports whether two private areas, a just below b, would be one
// area in the kernel but for something a listing does not show (their
// anon_vmas, flags): adjacent, same permissions, both anonymous or both
// the same file at contiguous offsets.
func like(a, b *Line) bool {
	if a == nil || b == nil || a.End != b.Start || a.Perms != b.Perms || a.Perms[3] != 'p' || a.special() || b.special() {
		return false
	}
	if a.anon() || b.anon() {
		return a.anon() && b.anon() && a.Path != "[stack]" && b.Path != "[stack]"
	}
	return a.Dev == b.Dev && a.Inode == b.Inode && a.Offset+(a.End-a.Start) == b.Offset
}

// seedPrivate returns the steps that map one private area of a seed,
// anonymous or of file, with the flags smaps shows (vf) and an anon_vma
// (a written page: a copy, for a file) where pagemap shows a write.
//
// Flags: VM_NORESERVE comes from MapNoReserve; VM_ACCOUNT, which mmap
// gives to private writable memory and mprotect to memory made writable
// and never takes away, by mapping writable first when the area has it;
// VM_DONTCOPY, VM_WIPEONFORK, VM_DONTDUMP and the huge page flags by the
// madvise that sets them. Others (VM_LOCKED, KSM's, userfaultfd's) are
// not reproduced.
//
// Areas the kernel shows apart although they are alike and adjacent
// (sameAsPrev: like the one below; apart: like the one above) have
// different anon_vmas (or flags); the seed keeps them apart by giving
// each an anon_vma of its own, even when pagemap shows no page
// (MADV_DONTNEED leaves the anon_vma and no page). A plain
// fault would not do: anon_vma_prepare reuses a compatible neighbour's
// anon_vma (find_mergeable_anon_vma, which ignores protections), after
// which the two merge. So the area is mapped with another protection (no
// merge at mmap), given a flag no neighbour has (so its fault finds no
// compatible neighbour), faulted, given its protection, and the flag is
// taken away: two anon_vmas, no merge. Other areas are faulted plainly and
// share a neighbour's anon_vma where the kernel's rules allow, as areas
// split by mprotect do.
func (s *space) seedPrivate(pid int, l Line, prot vmspace.Prot, vf map[string]bool, file vmspace.File, sameAsPrev, apart bool) []step {
	w, werr := firstWritten(pid, l.Start, l.End)
	written := werr == nil && w != 0
	if !written && (sameAsPrev || apart) {
		w, written = l.Start, true
	}
	// Only the like neighbour below is mapped yet: the area above is
	// isolated from this one when its turn comes. A neighbour below with
	// another protection may lend its anon_vma, as after a split.
	isolate := sameAsPrev
	tmp := prot
	if (written || vf["ac"]) && prot&vmspace.ProtWrite == 0 {
		tmp = prot | vmspace.ProtWrite
	} else if sameAsPrev {
		tmp = prot ^ vmspace.ProtExec
	}
	flags := vmspace.MapPrivate | vmspace.MapAnonymous | vmspace.MapFixed
	if vf["nr"] {
		flags |= vmspace.MapNoReserve
	}
	start, length := l.Start, l.End-l.Start
	advise := func(a vmspace.Advice) step {
		return func(sp *vmspace.Space) (uint64, error) { return 0, sp.Advise(start, length, a) }
	}
	steps := []step{func(sp *vmspace.Space) (uint64, error) { return sp.Map(start, length, tmp, flags) }}
	if file != nil {
		off := l.Offset
		steps[0] = func(sp *vmspace.Space) (uint64, error) {
			return sp.MapFile(start, length, tmp, flags&^vmspace.MapAnonymous, file, off)
		}
	}
	for _, f := range []struct {
		name string
		adv  vmspace.Advice
	}{{"dc", vmspace.AdviseDontFork}, {"wf", vmspace.AdviseWipeOnFork}, {"hg", vmspace.AdviseHugePage}, {"nh", vmspace.AdviseNoHugePage}} {
		if vf[f.name] {
			steps = append(steps, advise(f.adv))
		}
	}
	// The flag that isolates: one the area does not keep.
	on, off := vmspace.AdviseDontDump, vmspace.AdviseDoDump
	if vf["dd"] {
		on, off = vmspace.AdviseDontFork, vmspace.AdviseDoFork
		if vf["dc"] {
			on, off = vmspace.AdviseWipeOnFork, vmspace.AdviseKeepOnFork
		}
	}
	if isolate {
		steps = append(steps, advise(on))
	}
	if written {
		steps = append(steps, func(sp *vmspace.Space) (uint64, error) { return 0, sp.Fault(w, vmspace.Write) })
		s.written[[2]uint64{l.Start, l.End}] = true
	}
	if tmp != prot {
		steps = append(steps, func(sp *vmspace.Space) (uint64, error) { return 0, sp.Protect(start, length, prot) })
	}
	if isolate {
		steps = append(steps, advise(off))
	}
	if vf["dd"] {
		steps = append(steps, advise(vmspace.AdviseDontDump))
	}
	return steps
}

// permsProt turns "rwxp" into a protection.
func permsProt(p string) vmspace.Prot {
	var prot vmspace.Prot
	if p[0] == 'r' {
		prot |= vmspace.ProtRead
	}
	if p[1] == 'w' {
		prot |= vmspace.ProtWrite
	}
	if p[2] == 'x' {
		prot |= vmspace.ProtExec
	}
	return prot
}

// Bits of a /proc/PID/pagemap entry (Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent   = 1 << 63
	pmSwapped   = 1 << 62
	pmFile      = 1 << 61 // file page or shared anonymous
	pmExclusive = 1 << 56 // mapped exactly once
)

// firstWritten returns the first page of [start, end) that the process
// wrote to, or 0: a swapped page, or a present anonymous page mapped only
// here (in a private file area, the copy a write made). The shared zero page (a read of untouched memory) is present but
// neither file nor exclusive, so it does not count. Not exact: an
// anonymous page still shared with a fork relative after a write is not
// exclusive (the mirror has that area's anon_vma from Fork already), a
// written page that reclaim dropped (after MADV_FREE) leaves the anon_vma
// but no trace here, and a read fault on THP-eligible memory gives an
// anon_vma with only the huge zero page to show.
func firstWritten(pid int, start, end uint64) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const chunk = 8192 // pages per read
	buf := make([]byte, 8*chunk)
	for a := start; a < end; {
		n := min((end-a)/pageSize, chunk)
		b := buf[:8*n]
		if _, err := f.ReadAt(b, int64(a/pageSize*8)); err != nil {
			return 0, err
		}
		for i := uint64(0); i < n; i++ {
			e := binary.LittleEndian.Uint64(b[8*i:])
			if e&pmSwapped != 0 || e&(pmPresent|pmFile|pmExclusive) == pmPresent|pmExclusive {
				return a + i*pageSize, nil
			}
		}
		a += n * pageSize
	}
	return 0, nil
}

// catchUp brings the mirror up to what the process did without system
// calls since the last call, as the kernel's layout after this call
// shows it: stack growth by faults, and writes that gave areas their
// anon_vma (which decide later merges).
func (s *space) catchUp(pid int, lines []Line, r *Report) {
	for _, l := range lines {
		if l.End > userEnd || l.special() || l.Perms[3] != 'p' {
			continue
		}
		if l.Path == "[stack]" {
			if m, ok := s.areaAt(l.End - 1); ok && m.Flags&vmGrowsDown != 0 && m.Start > l.Start {
				// The kernel grew the stack on faults below it
				// (expand_stack); the same fault grows the mirror's.
				start := l.Start
				if _, err := s.op(func(sp *vmspace.Space) (uint64, error) { return 0, sp.Fault(start, vmspace.Write) }); err == nil {
					r.StackGrowths++
				}
			}
			continue
		}
		k := [2]uint64{l.Start, l.End}
		if s.written[k] || l.Perms[1] != 'w' {
			continue
		}
		w, err := firstWritten(pid, l.Start, l.End)
		if err != nil || w == 0 {
			continue
		}
		if in, _ := s.sp.Mincore(w, pageSize); len(in) == 1 && in[0] {
			s.written[k] = true // the mirror has the page already
			continue
		}
		_, err = s.op(func(sp *vmspace.Space) (uint64, error) { return 0, sp.Fault(w, vmspace.Write) })
		switch {
		case err == nil:
			r.WrittenFaults++
			s.written[k] = true
		case isAccErr(err):
			r.WrittenMissed++
			s.written[k] = true
		}
	}
}

func (s *space) areaAt(addr uint64) (vmspace.Mapping, bool) {
	for _, m := range s.sp.Maps() {
		if m.Start <= addr && addr < m.End {
			return m, true
		}
	}
	return vmspace.Mapping{}, false
}
