package shadow

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Line is one line of /proc/PID/maps (show_map_vma's format), or one line
// of vmspace's layout rendered the same way so the two compare field by
// field.
type Line struct {
	Start, End uint64
	Perms      string // "rw-p"
	Offset     uint64
	Dev        string // "fe:00"
	Inode      uint64
	Path       string // file path or "[stack]", "[heap]", "[vdso]"...; not compared
}

// String renders the line as /proc/PID/maps does (path after the fixed
// columns, without the kernel's padding).
func (l Line) String() string {
	s := fmt.Sprintf("%08x-%08x %s %08x %s %d", l.Start, l.End, l.Perms, l.Offset, l.Dev, l.Inode)
	if l.Path != "" {
		s += " " + l.Path
	}
	return s
}

// anon reports whether the line is private or shared anonymous memory with
// no special name: what vmspace's anonymous Map makes.
func (l Line) anon() bool {
	if l.Inode != 0 && !strings.HasPrefix(l.Path, "/dev/zero") {
		return false
	}
	switch l.Path {
	case "", "[heap]", "[stack]":
		return true
	}
	return strings.HasPrefix(l.Path, "/dev/zero") || strings.HasPrefix(l.Path, "[anon:")
}

// special reports whether the line is an area the kernel installs itself
// and no system call can make ([vdso], [vvar], [vvar_vclock], [vsyscall]).
func (l Line) special() bool {
	return l.Inode == 0 && strings.HasPrefix(l.Path, "[") && !l.anon()
}

// parseMaps parses the text of /proc/PID/maps.
func parseMaps(b []byte) ([]Line, error) {
	var out []Line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l, err := parseLine(sc.Text())
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// parseLine parses "start-end perms offset dev inode [path]"; the path may
// hold spaces, so it is whatever follows the fifth field.
func parseLine(s string) (Line, error) {
	var l Line
	rest := s
	field := func() string {
		rest = strings.TrimLeft(rest, " ")
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			f := rest
			rest = ""
			return f
		}
		f := rest[:i]
		rest = rest[i:]
		return f
	}
	rng, perms, off, dev, ino := field(), field(), field(), field(), field()
	a, b, ok := strings.Cut(rng, "-")
	var err error
	if !ok || len(perms) != 4 {
		return l, fmt.Errorf("maps line %q: bad range or perms", s)
	}
	if l.Start, err = strconv.ParseUint(a, 16, 64); err != nil {
		return l, fmt.Errorf("maps line %q: %v", s, err)
	}
	if l.End, err = strconv.ParseUint(b, 16, 64); err != nil {
		return l, fmt.Errorf("maps line %q: %v", s, err)
	}
	if l.Offset, err = strconv.ParseUint(off, 16, 64); err != nil {
		return l, fmt.Errorf("maps line %q: %v", s, err)
	}
	if l.Inode, err = strconv.ParseUint(ino, 10, 64); err != nil {
		return l, fmt.Errorf("maps line %q: %v", s, err)
	}
	l.Perms, l.Dev = perms, dev
	l.Path = strings.TrimLeft(rest, " ")
	return l, nil
}

// readMaps reads and parses /proc/PID/maps.
func readMaps(pid int) ([]Line, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	return parseMaps(b)
}

// readStartBrk returns start_brk and brk of a process from /proc/PID/stat
// (fields 47 and 48 of proc_pid_stat's line count from 1; brk is not
// there, so it is start_brk's twin after exec and followed by the
// mirror afterwards).
func readStartBrk(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: count
	// fields after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); start_brk is field 47.
	const startBrkField = 47
	if len(f) < startBrkField-2 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	return strconv.ParseUint(f[startBrkField-3], 10, 64)
}

// readVmFlags reads the VmFlags line of each area in /proc/PID/smaps
// (show_smap_vma_flags: two-letter names, "ac" for VM_ACCOUNT, "dc" for
// VM_DONTCOPY...), keyed by the area's start.
func readVmFlags(pid int) (map[uint64]map[string]bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	out := map[uint64]map[string]bool{}
	var cur uint64
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t := sc.Text()
		if rest, ok := strings.CutPrefix(t, "VmFlags:"); ok {
			set := map[string]bool{}
			for _, f := range strings.Fields(rest) {
				set[f] = true
			}
			out[cur] = set
			continue
		}
		// An area's header starts with its range; the other lines
		// with a capitalized key.
		if c := t[0]; c >= '0' && c <= '9' || c >= 'a' && c <= 'f' {
			if l, err := parseLine(t); err == nil {
				cur = l.Start
			}
		}
	}
	return out, sc.Err()
}
