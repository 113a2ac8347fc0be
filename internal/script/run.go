package script

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Run reads a script from r, executes it on e, and writes the transcript
// to w in the oracle's format: each line echoed after trimming, then
// " -> " and the result, or the maps block. It stops with an error when r
// or w fail or when e returns an error that is neither an errno nor a
// fault error; the transcript up to that line has been written.
func Run(e Engine, r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	bw := bufio.NewWriter(w)
	n := 0
	for sc.Scan() {
		n++
		op, err := Parse(sc.Text())
		var out string
		if err != nil {
			out = op.Line + " -> PARSE_ERROR"
		} else if out, err = Exec(e, op); err != nil {
			bw.Flush()
			return fmt.Errorf("script line %d %q: %w", n, op.Line, err)
		}
		bw.WriteString(out)
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		bw.Flush()
		return err
	}
	return bw.Flush()
}

// Exec executes one parsed line on e and gives its transcript text without
// the final newline. The error is an engine failure (see Run).
func Exec(e Engine, op Op) (string, error) {
	if op.Kind == OpComment {
		return op.Line, nil
	}
	if op.Kind == OpMaps {
		areas, err := e.Maps()
		if err != nil {
			return result(op, "", err)
		}
		return formatMaps(op.Line, areas), nil
	}
	var ok string // what follows "0" on success
	var err error
	switch op.Kind {
	case OpMmap:
		var placed uint64
		var inside bool
		placed, inside, err = e.Mmap(op.Off, op.Len, op.Prot, op.Flags)
		ok = placement(placed, inside)
	case OpMunmap:
		err = e.Munmap(op.Off, op.Len)
	case OpMprotect:
		err = e.Mprotect(op.Off, op.Len, op.Prot)
	case OpMremap:
		var placed uint64
		var inside bool
		placed, inside, err = e.Mremap(op.Off, op.Len, op.NewLen, op.MayMove || op.Fixed, op.Fixed, op.NewOff, op.DontUnmap)
		ok = placement(placed, inside)
	case OpMadvise:
		err = e.Madvise(op.Off, op.Len, op.Advice)
	case OpTouch:
		err = e.Touch(op.Off, op.Val)
	case OpRead:
		var v byte
		v, err = e.Read(op.Off)
		ok = fmt.Sprintf(" val=0x%02x", v)
	case OpMincore:
		var pages []bool
		pages, err = e.Mincore(op.Off, op.Len)
		ok = " " + residency(pages)
	case OpFile:
		err = e.File(op.File, op.Len, op.Mode)
	case OpMmapFile:
		var placed uint64
		var inside bool
		placed, inside, err = e.MmapFile(op.Off, op.Len, op.Prot, op.Flags, op.File, op.FileOff)
		ok = placement(placed, inside)
	case OpFtruncate:
		err = e.Ftruncate(op.File, op.Len)
	case OpHeap:
		err = e.Heap(op.Off)
	case OpBrk:
		var got uint64
		got, err = e.Brk(op.Off)
		ok = placement(got, true)
	default:
		return "", fmt.Errorf("unknown op kind %v", op.Kind)
	}
	return result(op, ok, err)
}

// result gives "LINE -> 0" + ok on success, "LINE -> NAME" on an errno or
// fault.
func result(op Op, ok string, err error) (string, error) {
	if err == nil {
		return op.Line + " -> 0" + ok, nil
	}
	name := ErrnoName(err)
	if name == "" {
		return "", err
	}
	return op.Line + " -> " + name, nil
}

// placement prints where mmap or mremap put the mapping: "@+0xOFF", or
// "@outside" when the kernel chose an address outside the region.
func placement(placed uint64, inside bool) string {
	if !inside {
		return " @outside"
	}
	return fmt.Sprintf(" @+0x%x", placed)
}

func residency(pages []bool) string {
	b := make([]byte, len(pages))
	for i, in := range pages {
		b[i] = '0'
		if in {
			b[i] = '1'
		}
	}
	return string(b)
}

// formatMaps prints the maps block: the line, then "  START-END PERMS" per
// area as /proc/self/maps would show it, or "  (none)". An area that maps
// a script file adds " NAME@0xFOFF" (the file and the offset of START in
// it), one the kernel lists as the heap adds " [heap]".
func formatMaps(line string, areas []Area) string {
	var sb strings.Builder
	sb.WriteString(line)
	if len(areas) == 0 {
		sb.WriteString("\n  (none)")
	}
	for _, a := range areas {
		kind := 'p'
		if a.Shared {
			kind = 's'
		}
		fmt.Fprintf(&sb, "\n  %s-%s %s%c", hexOff(a.Start), hexOff(a.End), a.Prot, kind)
		switch {
		case a.File != "":
			fmt.Fprintf(&sb, " %s@0x%x", a.File, a.FileOff)
		case a.Heap:
			sb.WriteString(" [heap]")
		}
	}
	return sb.String()
}

// hexOff prints an offset as lower-case 0x hex without padding, with a
// leading '-' below the base.
func hexOff(v int64) string {
	if v < 0 {
		return fmt.Sprintf("-0x%x", uint64(-v))
	}
	return fmt.Sprintf("0x%x", v)
}
