package script

import (
	"fmt"
	"strconv"
	"strings"
)

// parseNumber reads a decimal or 0x-hex number with an optional minus sign.
// A negative number stands for its 64-bit two's complement, as C's strtoll
// gives it to the kernel: -1 is the largest length, -0x1000 is 2^64-4096.
// Magnitudes up to 2^64-1 are accepted either way and wrap.
func parseNumber(s string) (uint64, error) {
	t := s
	neg := strings.HasPrefix(t, "-")
	if neg {
		t = t[1:]
	}
	base := 10
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		t, base = t[2:], 16
	}
	// ParseUint would take a sign or underscores in some forms; insist on
	// plain digits.
	if t == "" || strings.ContainsAny(t, "+-_") {
		return 0, fmt.Errorf("bad number %q", s)
	}
	v, err := strconv.ParseUint(t, base, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	if neg {
		v = -v
	}
	return v, nil
}
