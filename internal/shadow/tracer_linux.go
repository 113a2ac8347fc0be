//go:build linux && amd64

package shadow

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
)

// Options configure Run.
type Options struct {
	Args                  []string // the command and its arguments
	Stdin, Stdout, Stderr *os.File // the program's; nil means the shadow's own
	Out                   io.Writer
	KeepGoing             bool                            // after a disagreement, rebuild the mirror and go on
	Trace                 bool                            // print every mirrored call
	afterMirror           func(sp *vmspace.Space, c Call) // test hook: runs after a call is mirrored
}

// task is one traced thread.
type task struct {
	tid    int
	sp     *space
	fresh  bool // auto-attached, its first SIGSTOP not seen yet
	inCall bool // between a syscall-entry and its exit stop
	entry  Call
	layout bool   // the call in progress is a layout call counted in sp.inflight
	conc   bool   // that call overlapped another thread's layout call
	seq    uint64 // when the call entered, in the tracer's order of stops
}

// tracer holds a run's state. All of it belongs to the one goroutine
// (locked to its thread: ptrace requests must come from the tracing
// thread) that runs the loop.
type tracer struct {
	o       Options
	r       Report
	tasks   map[int]*task
	early   map[int]bool // children stopped before their parent's fork event
	stopped bool         // a disagreement without --keep-going: mirroring stopped
	seq     uint64       // counts syscall-entry stops
}

// ptraceOptions: syscall stops marked (SIGTRAP|0x80), children traced from
// birth, exec reported, and the tracees killed if the shadow dies.
const ptraceOptions = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL

// Run runs the command under ptrace, mirrors its layout calls into
// vmspace and compares after each. It returns the report and the
// program's exit status (128+signal when a signal killed it).
func Run(o Options) (*Report, int, error) {
	if len(o.Args) == 0 {
		return nil, 0, errors.New("no command")
	}
	if o.Out == nil {
		o.Out = os.Stderr
	}
	path, err := exec.LookPath(o.Args[0])
	if err != nil {
		return nil, 0, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	pick := func(f, d *os.File) *os.File {
		if f != nil {
			return f
		}
		return d
	}
	attr := &os.ProcAttr{
		Files: []*os.File{pick(o.Stdin, os.Stdin), pick(o.Stdout, os.Stdout), pick(o.Stderr, os.Stderr)},
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	}
	proc, err := os.StartProcess(path, o.Args, attr)
	if err != nil {
		return nil, 0, fmt.Errorf("starting %s under ptrace: %w", o.Args[0], err)
	}
	pid := proc.Pid
	t := &tracer{o: o, tasks: map[int]*task{}, early: map[int]bool{}, r: Report{Unmirrored: map[string]int{}}}

	// The child stops with SIGTRAP after its execve (PTRACE_TRACEME).
	var ws unix.WaitStatus
	if _, err := waitRetry(pid, &ws); err != nil {
		return nil, 0, err
	}
	if !ws.Stopped() {
		return nil, 0, fmt.Errorf("%s: did not stop after exec (status %#x)", o.Args[0], uint32(ws))
	}
	if err := unix.PtraceSetOptions(pid, ptraceOptions); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return nil, 0, fmt.Errorf("PTRACE_SETOPTIONS: %w", err)
	}
	root := &task{tid: pid}
	t.tasks[pid] = root
	if err := t.exec(root); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		return nil, 0, err
	}
	code := t.loop(pid, root)
	evictAll()
	t.r.notes(o.Out)
	fmt.Fprintln(o.Out, t.r.Final())
	return &t.r, code, nil
}

func waitRetry(pid int, ws *unix.WaitStatus) (int, error) {
	for {
		wpid, err := unix.Wait4(pid, ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		return wpid, err
	}
}

// loop runs the tracees until none is left and returns the root's exit
// status.
func (t *tracer) loop(rootPid int, root *task) int {
	code := 0
	t.resume(root, 0)
	for {
		var ws unix.WaitStatus
		wpid, err := waitRetry(-1, &ws)
		if err != nil { // ECHILD: every tracee is gone
			return code
		}
		tk := t.tasks[wpid]
		switch {
		case ws.Exited() || ws.Signaled():
			if wpid == rootPid {
				if ws.Exited() {
					code = ws.ExitStatus()
				} else {
					code = 128 + int(ws.Signal())
				}
			}
			if tk != nil {
				t.leave(tk)
				delete(t.tasks, wpid)
			}
		case !ws.Stopped():
		case tk == nil:
			// A new child can report its first stop before its
			// parent's fork event: hold it until the event says
			// which mirror it gets.
			t.early[wpid] = true
		case ws.StopSignal() == unix.SIGTRAP|0x80:
			t.syscallStop(tk)
			t.resume(tk, 0)
		case ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() > 0:
			t.event(tk, ws.TrapCause())
			t.resume(tk, 0)
		case tk.fresh && ws.StopSignal() == unix.SIGSTOP:
			tk.fresh = false
			t.resume(tk, 0)
		case groupStop(tk.tid):
			// A non-seized tracee cannot be left in a group-stop
			// (PTRACE_LISTEN needs PTRACE_SEIZE): it goes on, so a
			// stopped program keeps running under the shadow.
			t.resume(tk, 0)
		default:
			t.resume(tk, int(ws.StopSignal())) // deliver the signal as untraced
		}
	}
}

func (t *tracer) resume(tk *task, sig int) {
	_ = unix.PtraceSyscall(tk.tid, sig) // ESRCH: killed meanwhile; its exit comes
}

// leave drops a task from its mirror.
func (t *tracer) leave(tk *task) {
	if tk.sp == nil {
		return
	}
	if tk.layout {
		tk.sp.inflight--
	}
	tk.sp.users--
	if tk.sp.users == 0 {
		tk.sp.close()
	}
	tk.sp = nil
}

// exec gives a task that has just exec'd a fresh mirror built from its
// maps, and compares it at once.
func (t *tracer) exec(tk *task) error {
	t.leave(tk)
	lines, err := readMaps(tk.tid)
	if err != nil {
		return err
	}
	sb, err := readStartBrk(tk.tid)
	if err != nil {
		return err
	}
	s, err := seed(tk.tid, lines, space{stackLimit: stackLimit(tk.tid), startBrk: sb, kernelBrk: sb}, &t.r)
	if err != nil {
		return err
	}
	s.users = 1
	tk.sp = s
	tk.inCall, tk.layout, tk.conc = false, false, false
	t.r.Execs++
	if !t.stopped {
		t.compare(tk, Call{Pid: tk.tid, Nr: sysExecve}, lines, 0, false)
	}
	return nil
}

// syscallStop handles a syscall-entry or -exit stop.
func (t *tracer) syscallStop(tk *task) {
	in, err := getSyscallInfo(tk.tid)
	if err != nil {
		return
	}
	switch in.op {
	case opEntry:
		tk.inCall = true
		tk.entry = Call{Pid: tk.tid, Nr: in.nr, Args: in.args}
		tk.layout = mirrored(in.nr) || layoutChanging(in.nr, in.args)
		tk.conc = false
		t.seq++
		tk.seq = t.seq
		if tk.layout {
			s := tk.sp
			s.inflight++
			if s.inflight > 1 {
				// Two threads of one mm inside layout calls: their
				// order in the kernel is unknown.
				for _, o := range t.tasks {
					if o.sp == s && o.layout {
						o.conc = true
					}
				}
			}
		}
	case opExit:
		if !tk.inCall {
			return
		}
		tk.inCall = false
		c := tk.entry
		c.Ret = in.rval
		if !tk.layout {
			return
		}
		tk.layout = false
		tk.sp.inflight--
		if t.stopped {
			return
		}
		if s := tk.sp; tk.conc || len(s.pending) > 0 {
			// Calls that overlapped in time: the kernel ran them in
			// some order under its mmap_lock, unknown here. Keep them
			// until no thread of this mm is inside a layout call,
			// then look for an order vmspace agrees with.
			t.seq++
			s.pending = append(s.pending, pendingCall{c, tk.seq, t.seq})
			if s.inflight == 0 {
				t.batch(tk)
			}
			return
		}
		switch {
		case c.Nr == sysPkeyMprotect && int32(c.Args[3]) != -1, !mirrored(c.Nr):
			if c.Err() == 0 {
				t.r.Unmirrored[c.name()]++
				t.resync(tk)
			}
		default:
			t.mirror(tk, c)
		}
	}
}

// mirror applies one layout call to the task's mirror and compares.
func (t *tracer) mirror(tk *task, c Call) {
	s := tk.sp
	lines, err := readMaps(tk.tid)
	if err != nil {
		return // the process is going away
	}
	s.catchUp(tk.tid, lines, &t.r)
	ret, err := s.apply(c, &t.r)
	if t.o.afterMirror != nil {
		t.o.afterMirror(s.sp, c)
	}
	if c.Nr == sysBrk {
		s.kernelBrk = uint64(c.Ret)
	}
	t.r.Mirrored++
	if t.o.Trace {
		fmt.Fprintf(t.o.Out, "shadow: trace: %s; vmspace %s\n", c, retString(ret))
	}
	if err != nil {
		t.disagree(tk, c, fmt.Sprintf("vmspace failed: %v", err), nil, nil, -1)
		return
	}
	t.compare(tk, c, lines, ret, true)
}

// compare checks the mirror's answer and layout against the kernel's.
// checkRet is false for a layout made without a call to answer (exec, a
// fork's child).
func (t *tracer) compare(tk *task, c Call, lines []Line, ret int64, checkRet bool) {
	mine, kern := tk.sp.render(), normalize(lines)
	t.r.Compared++
	i := firstDiff(mine, kern)
	answer := !checkRet || ret == c.Ret
	if i < 0 && answer {
		return
	}
	what := "same answer"
	if !answer {
		what = fmt.Sprintf("vmspace answered %s, kernel %s", retString(ret), retString(c.Ret))
	}
	t.disagree(tk, c, what, mine, kern, i)
}

func (t *tracer) disagree(tk *task, c Call, what string, mine, kern []Line, i int) {
	t.r.Disagreements++
	call := c.String()
	if c.Nr == sysExecve {
		call = fmt.Sprintf("[pid %d] exec (mirror built from maps)", c.Pid)
	}
	msg := fmt.Sprintf("shadow: disagreement after %s: %s", call, what)
	if i >= 0 {
		msg += fmt.Sprintf("; vmspace has %d areas, kernel %d; first differing maps line %d: vmspace %q, kernel %q",
			len(mine), len(kern), i+1, lineAt(mine, i), lineAt(kern, i))
	}
	fmt.Fprintln(t.o.Out, msg)
	if t.o.Trace && mine != nil { // both layouts in full, the kernel.s with its VmFlags
		for _, l := range mine {
			fmt.Fprintln(t.o.Out, "  mine  ", l)
		}
		vf, _ := readVmFlags(tk.tid)
		for _, l := range kern {
			fmt.Fprintln(t.o.Out, "  kernel", l, vf[l.Start])
		}
	}
	if t.o.KeepGoing {
		t.resync(tk)
		t.r.Resyncs++
		return
	}
	t.stopped = true
}

// resync rebuilds a task's mirror from the kernel's layout, in place, so
// every task sharing it follows.
func (t *tracer) resync(tk *task) {
	s := tk.sp
	lines, err := readMaps(tk.tid)
	if err != nil {
		return
	}
	ns, err := seed(tk.tid, lines, *s, &t.r)
	if err != nil {
		fmt.Fprintf(t.o.Out, "shadow: rebuilding the mirror of %d: %v\n", tk.tid, err)
		t.stopped = true
		return
	}
	s.sp.Close()
	s.sp, s.base, s.log, s.files, s.written = ns.sp, ns.base, ns.log, ns.files, ns.written
}

// Bits of clone's flags.
const cloneVM = 0x100

// event handles a PTRACE_EVENT stop: a new task, or an exec.
func (t *tracer) event(tk *task, cause int) {
	switch cause {
	case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
		msg, err := unix.PtraceGetEventMsg(tk.tid)
		if err != nil {
			return
		}
		child := int(msg)
		var flags uint64
		switch tk.entry.Nr {
		case sysClone:
			flags = tk.entry.Args[0]
		case sysClone3:
			flags, _ = peekUint64(tk.tid, tk.entry.Args[0]) // clone_args.flags
		case sysVfork:
			flags = cloneVM
		}
		if cause == unix.PTRACE_EVENT_VFORK {
			flags |= cloneVM
		}
		ct := &task{tid: child, fresh: true}
		if flags&cloneVM != 0 {
			ct.sp = tk.sp
			t.r.SharedVM++
		} else if !t.stopped {
			if lines, err := readMaps(tk.tid); err == nil {
				tk.sp.catchUp(tk.tid, lines, &t.r)
			}
			cs, err := tk.sp.fork()
			if err != nil {
				fmt.Fprintf(t.o.Out, "shadow: Space.Fork for %d: %v\n", child, err)
				t.stopped = true
			} else {
				ct.sp = cs
				t.r.Forks++
				t.r.Mirrored++
				if lines, err := readMaps(child); err == nil {
					t.compare(ct, Call{Pid: child, Nr: sysFork, Ret: int64(child)}, lines, int64(child), false)
				}
			}
		}
		if ct.sp == nil { // mirroring stopped: an empty stand-in
			ct.sp = &space{}
		}
		ct.sp.users++
		t.tasks[child] = ct
		if t.early[child] {
			delete(t.early, child)
			ct.fresh = false
			t.resume(ct, 0)
		}
	case unix.PTRACE_EVENT_EXEC:
		msg, _ := unix.PtraceGetEventMsg(tk.tid)
		if former := int(msg); former != tk.tid {
			// A thread other than the leader exec'd: it takes the
			// leader's thread ID, and the old leader is gone
			// without an exit report.
			if ft := t.tasks[former]; ft != nil {
				t.leave(tk)
				delete(t.tasks, former)
				ft.tid = tk.tid
				t.tasks[tk.tid] = ft
				tk = ft
			}
		}
		if t.stopped {
			t.leave(tk)
			tk.sp = &space{users: 1}
			return
		}
		if err := t.exec(tk); err != nil {
			fmt.Fprintf(t.o.Out, "shadow: after exec of %d: %v\n", tk.tid, err)
			t.stopped = true
		}
	}
}

// searchBudget bounds the copies of the mirror one batch may try.
const searchBudget = 4000

// batch ends a batch of overlapping calls. The kernel ran them one at a
// time under its mmap_lock, in an order that respects real time (a call
// that returned before another entered ran first), unknown here. batch
// searches for such an order in which vmspace gives the kernel's answer
// to every call and ends with the kernel's layout, trying each step on a
// rebuilt copy of the mirror (depth first, pruned by the answers), and
// keeps the first it finds; if there is none, that is a disagreement. The
// layout is compared once, at the batch's end: in between, the kernel's
// intermediate layouts were never seen.
func (t *tracer) batch(tk *task) {
	s := tk.sp
	pend := s.pending
	s.pending = nil
	for _, p := range pend {
		if !mirrored(p.c.Nr) || p.c.Nr == sysPkeyMprotect && int32(p.c.Args[3]) != -1 {
			// An unmirrored call in the batch: rebuild from maps.
			for _, p := range pend {
				if p.c.Err() == 0 && !mirrored(p.c.Nr) {
					t.r.Unmirrored[p.c.name()]++
				}
			}
			t.resync(tk)
			return
		}
	}
	lines, err := readMaps(tk.tid)
	if err != nil {
		return
	}
	kern := normalize(lines)
	sort.SliceStable(pend, func(i, j int) bool { return pend[i].seq < pend[j].seq })
	t.r.Batches++

	start, err := s.clone()
	if err != nil {
		t.disagree(tk, pend[len(pend)-1].c, fmt.Sprintf("rebuilding the mirror: %v", err), nil, nil, -1)
		return
	}
	var scratch Report
	start.catchUp(tk.tid, lines, &scratch)
	budget := searchBudget
	used := make([]bool, len(pend))
	order := make([]int, 0, len(pend))
	rets := make([]int64, len(pend))
	var found *space
	// failed holds the sets of calls (as used[] keys) from which the
	// search found no way on. Two orders of the same calls nearly always
	// leave the same layout (calls on different ranges commute), so the
	// search does not try a set again: that keeps it polynomial in the
	// batch's width instead of exponential in its length. It can only
	// miss an order, never accept a wrong one: what it accepts was
	// checked end to end.
	failed := map[string]bool{}
	key := func() string {
		b := make([]byte, len(used))
		for i, u := range used {
			if u {
				b[i] = 1
			}
		}
		return string(b)
	}
	var dfs func(cand *space) bool
	dfs = func(cand *space) bool {
		if len(order) == len(pend) {
			return firstDiff(cand.render(), kern) < 0
		}
		k := key()
		if failed[k] {
			return false
		}
		defer func() {
			if found == nil {
				failed[k] = true
			}
		}()
		for i, p := range pend {
			if used[i] || !ready(pend, used, i) {
				continue
			}
			if budget == 0 {
				return false
			}
			budget--
			cl, err := cand.clone()
			if err != nil {
				return false
			}
			var sr Report
			ret, err := cl.apply(p.c, &sr)
			if err == nil && ret == p.c.Ret {
				used[i] = true
				order = append(order, i)
				rets[i] = ret
				if dfs(cl) {
					if found == nil {
						found = cl
						scratch.add(&sr)
					}
					return true
				}
				used[i] = false
				order = order[:len(order)-1]
			}
			cl.close()
		}
		return false
	}
	if dfs(start) {
		if found != start {
			start.close()
		}
		s.sp.Close()
		s.sp, s.log, s.files, s.written = found.sp, found.log, found.files, found.written
		t.r.add(&scratch)
		t.r.Mirrored += len(pend)
		t.r.Concurrent += len(pend)
		t.r.Compared++
		for _, i := range order {
			c := pend[i].c
			if c.Nr == sysBrk {
				s.kernelBrk = uint64(c.Ret)
			}
			if t.o.Trace {
				fmt.Fprintf(t.o.Out, "shadow: trace: %s; vmspace %s (batch of %d overlapping calls)\n", c, retString(rets[i]), len(pend))
			}
		}
		return
	}
	start.close()
	// No order agrees: report the entry order's outcome.
	s.catchUp(tk.tid, lines, &t.r)
	what := ""
	for _, p := range pend {
		ret, err := s.apply(p.c, &t.r)
		t.r.Mirrored++
		t.r.Concurrent++
		if err == nil && ret != p.c.Ret && what == "" {
			what = fmt.Sprintf("%s: vmspace answered %s", p.c, retString(ret))
		}
	}
	t.r.Compared++
	mine := s.render()
	if what == "" {
		what = "same answers"
	}
	gave := ""
	if budget == 0 {
		gave = fmt.Sprintf(" (search stopped after %d copies)", searchBudget)
	}
	t.disagree(tk, pend[len(pend)-1].c, fmt.Sprintf("no serial order of %d overlapping calls agrees%s; in entry order: %s", len(pend), gave, what),
		mine, kern, firstDiff(mine, kern))
}

// ready reports whether pend[i] may run next: no other call left returned
// before it entered.
func ready(pend []pendingCall, used []bool, i int) bool {
	for j, q := range pend {
		if j != i && !used[j] && q.exit < pend[i].seq {
			return false
		}
	}
	return true
}
