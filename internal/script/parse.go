package script

import (
	"fmt"
	"strings"
)

// Parse reads one script line. Blank lines and lines starting with '#'
// give OpComment. A line that does not parse gives an error, and the
// runner prints "LINE -> PARSE_ERROR".
func Parse(line string) (Op, error) {
	line = strings.TrimSpace(line)
	op := Op{Line: line}
	if line == "" || line[0] == '#' {
		return op, nil
	}
	f := strings.Fields(line)
	var err error
	switch f[0] {
	case "mmap":
		op.Kind = OpMmap
		err = parseArgs(f[1:], 4, func(a []string) error {
			return all(
				num(a[0], &op.Off), num(a[1], &op.Len),
				prot(a[2], &op.Prot), flags(a[3], &op.Flags))
		})
	case "munmap":
		op.Kind = OpMunmap
		err = parseArgs(f[1:], 2, func(a []string) error {
			return all(num(a[0], &op.Off), num(a[1], &op.Len))
		})
	case "mprotect":
		op.Kind = OpMprotect
		err = parseArgs(f[1:], 3, func(a []string) error {
			return all(num(a[0], &op.Off), num(a[1], &op.Len), prot(a[2], &op.Prot))
		})
	case "mremap":
		op.Kind = OpMremap
		err = parseMremap(f[1:], &op)
	case "madvise":
		op.Kind = OpMadvise
		err = parseArgs(f[1:], 3, func(a []string) error {
			adv, err := parseAdvice(a[2])
			op.Advice = adv
			return all(num(a[0], &op.Off), num(a[1], &op.Len), err)
		})
	case "touch":
		op.Kind = OpTouch
		op.Val = 1
		if len(f) == 3 {
			var v uint64
			if err = num(f[2], &v); err == nil {
				op.Val = byte(v) // the low byte, as a C char store keeps it
			}
			f = f[:2]
		}
		if err == nil {
			err = parseArgs(f[1:], 1, func(a []string) error { return num(a[0], &op.Off) })
		}
	case "read":
		op.Kind = OpRead
		err = parseArgs(f[1:], 1, func(a []string) error { return num(a[0], &op.Off) })
	case "mincore":
		op.Kind = OpMincore
		err = parseArgs(f[1:], 2, func(a []string) error {
			return all(num(a[0], &op.Off), num(a[1], &op.Len))
		})
	case "maps":
		op.Kind = OpMaps
		err = parseArgs(f[1:], 0, func([]string) error { return nil })
	case "file":
		op.Kind = OpFile
		a := f[1:]
		if len(a) == 3 {
			switch a[2] {
			case "ro":
				op.Mode = FileRO
			case "wo":
				op.Mode = FileWO
			default:
				err = fmt.Errorf("unknown file mode %q", a[2])
			}
			a = a[:2]
		}
		if err == nil {
			err = parseArgs(a, 2, func(a []string) error {
				return all(fileName(a[0], &op.File), num(a[1], &op.Len))
			})
		}
	case "mmapfile":
		op.Kind = OpMmapFile
		err = parseArgs(f[1:], 6, func(a []string) error {
			err := all(num(a[0], &op.Off), num(a[1], &op.Len), prot(a[2], &op.Prot),
				flags(a[3], &op.Flags), fileName(a[4], &op.File), num(a[5], &op.FileOff))
			if err == nil && op.Flags&FlagAnon != 0 {
				err = fmt.Errorf("mmapfile maps a file: no anon")
			}
			return err
		})
	case "ftruncate":
		op.Kind = OpFtruncate
		err = parseArgs(f[1:], 2, func(a []string) error {
			return all(fileName(a[0], &op.File), num(a[1], &op.Len))
		})
	case "heap":
		op.Kind = OpHeap
		err = parseArgs(f[1:], 1, func(a []string) error {
			err := num(a[0], &op.Off)
			if err == nil && (op.Off%0x1000 != 0 || op.Off >= 1<<30) {
				err = fmt.Errorf("heap %#x: want a page offset in the region", op.Off)
			}
			return err
		})
	case "brk":
		op.Kind = OpBrk
		err = parseArgs(f[1:], 1, func(a []string) error { return num(a[0], &op.Off) })
	default:
		err = fmt.Errorf("unknown call %q", f[0])
	}
	if err != nil {
		return Op{Line: line}, fmt.Errorf("%q: %w", line, err)
	}
	return op, nil
}

// parseMremap reads "OFF OLDLEN NEWLEN [maymove] [fixed NEWOFF] [dontunmap]",
// the options in any order, each at most once.
func parseMremap(a []string, op *Op) error {
	if len(a) < 3 {
		return fmt.Errorf("want at least 3 arguments, have %d", len(a))
	}
	if err := all(num(a[0], &op.Off), num(a[1], &op.Len), num(a[2], &op.NewLen)); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := 3; i < len(a); i++ {
		w := a[i]
		if seen[w] {
			return fmt.Errorf("option %q twice", w)
		}
		seen[w] = true
		switch w {
		case "maymove":
			op.MayMove = true
		case "dontunmap":
			op.DontUnmap = true
		case "fixed":
			if i+1 >= len(a) {
				return fmt.Errorf("fixed without NEWOFF")
			}
			i++
			if err := num(a[i], &op.NewOff); err != nil {
				return err
			}
			op.Fixed, op.MayMove = true, true // MREMAP_FIXED needs MREMAP_MAYMOVE
		default:
			return fmt.Errorf("unknown mremap option %q", w)
		}
	}
	return nil
}

func parseArgs(a []string, n int, fn func([]string) error) error {
	if len(a) != n {
		return fmt.Errorf("want %d arguments, have %d", n, len(a))
	}
	return fn(a)
}

func all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func num(s string, v *uint64) (err error) {
	*v, err = parseNumber(s)
	return err
}

// fileName reads a file's name: a lower-case letter, then letters and
// digits.
func fileName(s string, name *string) error {
	for i, c := range s {
		if !('a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return fmt.Errorf("bad file name %q", s)
		}
	}
	if s == "" {
		return fmt.Errorf("empty file name")
	}
	*name = s
	return nil
}

func prot(s string, p *Prot) (err error) {
	*p, err = parseProt(s)
	return err
}

func flags(s string, f *MapFlags) (err error) {
	*f, err = parseFlags(s)
	return err
}
