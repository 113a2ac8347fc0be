package script

import (
	"fmt"
	"strings"
	"testing"
)

// formatOp writes op back as a script line in canonical form (hex
// numbers, flags in canonical order). The package has no formatter of its
// own; this one exists to check Parse by round trip.
func formatOp(op Op) string {
	switch op.Kind {
	case OpMmap:
		return fmt.Sprintf("mmap %#x %#x %v %v", op.Off, op.Len, op.Prot, op.Flags)
	case OpMunmap:
		return fmt.Sprintf("munmap %#x %#x", op.Off, op.Len)
	case OpMprotect:
		return fmt.Sprintf("mprotect %#x %#x %v", op.Off, op.Len, op.Prot)
	case OpMremap:
		s := fmt.Sprintf("mremap %#x %#x %#x", op.Off, op.Len, op.NewLen)
		if op.MayMove && !op.Fixed {
			s += " maymove"
		}
		if op.Fixed {
			s += fmt.Sprintf(" fixed %#x", op.NewOff)
		}
		if op.DontUnmap {
			s += " dontunmap"
		}
		return s
	case OpMadvise:
		return fmt.Sprintf("madvise %#x %#x %v", op.Off, op.Len, op.Advice)
	case OpTouch:
		return fmt.Sprintf("touch %#x %#x", op.Off, op.Val)
	case OpRead:
		return fmt.Sprintf("read %#x", op.Off)
	case OpMincore:
		return fmt.Sprintf("mincore %#x %#x", op.Off, op.Len)
	case OpMaps:
		return "maps"
	}
	return op.Line
}

// FuzzParse: Parse never panics, a line that parses formats to a line
// that parses to the same call, and negative numbers read as their two's
// complement.
//
//	go test -fuzz=FuzzParse -fuzztime=1m ./internal/script/
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "# c", "maps", "mmap 0x1000 8192 rw- private,anon,fixed",
		"mmap -0x1000 -1 --x stack,locked,populate,noreserve,growsdown,noreplace,shared",
		"munmap 0x7fffffffffff0000 0x1000", "mprotect 0 0x1 -w-",
		"mremap 0x800000 0x1000 0x1000 fixed 0x900000 dontunmap", "mremap 0 1 2 dontunmap maymove",
		"madvise 0x0 0x1000 populate_write", "touch 0x10 0x1ff", "touch 7", "read 0x3", "mincore 0 -1",
		"mmap 0x 1 r-- private", "mremap 1 2 3 fixed", "touch 1 2 3", "mmap 1 2 rwx private,,anon",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		op, err := Parse(line)
		if err != nil {
			if op.Kind != OpComment || op.Line != strings.TrimSpace(line) {
				t.Fatalf("Parse(%q) failed (%v) but returned %+v", line, err, op)
			}
			return
		}
		if op.Line != strings.TrimSpace(line) {
			t.Fatalf("Parse(%q).Line = %q", line, op.Line)
		}
		if op.Kind == OpComment {
			return
		}
		again := formatOp(op)
		op2, err := Parse(again)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, formatted %q, which does not parse: %v", line, op, again, err)
		}
		op2.Line = op.Line
		if op2 != op {
			t.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", line, again, op2, op)
		}
	})
}
