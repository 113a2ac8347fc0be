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
					runRecorded(t, Options{Mode: mode, Recycle: rec}, in, want)
				})
			}
		}
	}
}

// TestOracleScriptsNoZeroPage runs the original scripts on vmspace with the
// zero page off and compares with the answers of a kernel that never maps
// it (testdata/oracle/nozeropage), byte for byte, so the no-zero-page path
// is checked on any host.
func TestOracleScriptsNoZeroPage(t *testing.T) {
	scripts, _ := filepath.Glob(filepath.Join(oracleDirs[0], "*.txt"))
	if len(scripts) == 0 {
		t.Fatal("no scripts")
	}
	for _, path := range scripts {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		want, err := os.ReadFile(filepath.Join(oracleDirs[0], "nozeropage", name+".out"))
		if err != nil {
			t.Fatalf("every original script needs its no-zero-page answer: %v", err)
		}
		in, _ := os.ReadFile(path)
		for _, mode := range []mm.LockMode{mm.PerArea, mm.WholeSpace} {
			for _, rec := range []bool{true, false} {
				t.Run(name+"/"+mode.String(), func(t *testing.T) {
					runRecorded(t, Options{Mode: mode, Recycle: rec, NoZeroPage: true}, in, want)
				})
			}
		}
	}
}

// runRecorded runs the script in on a new engine with o and compares the
// output with want.
func runRecorded(t *testing.T, o Options, in, want []byte) {
	t.Helper()
	e, err := NewWith(o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out bytes.Buffer
	if err := script.Run(e, bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Errorf("output differs from the kernel's:\n%s", diff(string(want), got))
	}
}

// The zero page changes answers: with it off, case J of 06_anon_vma_merge
// must come out differently, or the two transcript kinds test nothing.
func TestZeroPageChangesAnswers(t *testing.T) {
	a, _ := os.ReadFile(filepath.Join(oracleDirs[0], "06_anon_vma_merge.out"))
	b, _ := os.ReadFile(filepath.Join(oracleDirs[0], "nozeropage", "06_anon_vma_merge.out"))
	if len(a) == 0 || bytes.Equal(a, b) {
		t.Fatal("the two recorded kinds of 06_anon_vma_merge should differ")
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
