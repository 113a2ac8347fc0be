package script

import "fmt"

// Prot is a protection as mmap and mprotect take it. The bits are Linux's
// PROT_READ, PROT_WRITE and PROT_EXEC.
type Prot uint8

const (
	ProtRead  Prot = 1
	ProtWrite Prot = 2
	ProtExec  Prot = 4
)

// String gives the three-letter form used by scripts and by
// /proc/self/maps: "rw-", "r-x", "---".
func (p Prot) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// parseProt reads the three-letter form: each position holds its letter or
// '-'.
func parseProt(s string) (Prot, error) {
	if len(s) != 3 {
		return 0, fmt.Errorf("prot %q: want three letters like rw-", s)
	}
	var p Prot
	for i, bit := range [3]Prot{ProtRead, ProtWrite, ProtExec} {
		switch s[i] {
		case "rwx"[i]:
			p |= bit
		case '-':
		default:
			return 0, fmt.Errorf("prot %q: bad letter %q", s, s[i])
		}
	}
	return p, nil
}
