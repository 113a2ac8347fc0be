package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmspace/vmspace/internal/mm"
	"github.com/vmspace/vmspace/internal/script"
)

// oracleDirs hold the scripts with the kernel's recorded answers: the
// original set, the regression scripts of the differential fuzzer's
// disagreements, and the hand-written extra cases.
var oracleDirs = []string{"../../testdata/oracle", "../../testdata/oracle/regress", "../../testdata/oracle/extra"}

// TestOracleScripts runs every script in testdata/oracle (and its regress
// and extra directories) on vmspace, in both lock modes and with recycling
// on and off, and compares the output with the kernel's recorded answer
// byte for byte.
func TestOracleScripts(t *testing.T) {
	var scripts []string
	for _, dir := range oracleDirs {
		found, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
		if len(found) == 0 && dir == oracleDirs[0] {
			t.Fatal("no scripts")
		}
		scripts = append(scripts, found...)
	}
	for _, path := range scripts {
		want, err := os.ReadFile(strings.TrimSuffix(path, ".txt") + ".out")
		if err != nil {
			t.Fatal(err)
		}
		in, _ := os.ReadFile(path)
		for _, mode := range []mm.LockMode{mm.PerArea, mm.WholeSpace} {
			for _, rec := range []bool{true, false} {
				name := strings.TrimPrefix(path, "../../testdata/oracle/")
				t.Run(name+"/"+mode.String(), func(t *testing.T) {
					e, err := New(mode, rec)
					if err != nil {
						t.Fatal(err)
					}
					defer e.S.Close()
					var out bytes.Buffer
					if err := script.Run(e, bytes.NewReader(in), &out); err != nil {
						t.Fatal(err)
					}
					if got := out.String(); got != string(want) {
						t.Errorf("output differs from the kernel's:\n%s", diff(string(want), got))
					}
				})
			}
		}
	}
}

func diff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("line " + itoa(i+1) + ":\n  kernel:  " + w + "\n  vmspace: " + g + "\n")
		}
	}
	return b.String()
}

func itoa(i int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(i)) }

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
