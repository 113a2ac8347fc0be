package kernel_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vmspace/vmspace/internal/kernel"
	"github.com/vmspace/vmspace/internal/script"
)

func newEngine(t testing.TB) *kernel.Engine {
	t.Helper()
	if !kernel.Supported() {
		t.Skip("the kernel engine needs Linux with 4 KiB pages")
	}
	e, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// The kernel of this machine reproduces every recorded answer of the kind
// recorded for a host like it: testdata/oracle/*.out on a host that maps
// the zero page, testdata/oracle/nozeropage/*.out on one that never does
// (the probe decides; the test logs what it found).
func TestOracleScripts(t *testing.T) {
	scripts, err := filepath.Glob("../../testdata/oracle/*.txt")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no oracle scripts: %v", err)
	}
	if !kernel.Supported() {
		t.Skip("the kernel engine needs Linux with 4 KiB pages")
	}
	h, err := kernel.ProbeHost()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(h)
	if m := h.Unmatched(); len(m) > 0 {
		t.Skip("the recorded answers assume settings this host does not have: " + strings.Join(m, "; "))
	}
	wantDir := "../../testdata/oracle"
	if !h.ZeroPage {
		wantDir = "../../testdata/oracle/nozeropage"
	}
	for _, path := range scripts {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(wantDir, name+".out"))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := script.Run(newEngine(t), bytes.NewReader(in), &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("transcript differs from %s.out:\n%s", name, diff(string(want), got.String()))
			}
		})
	}
}

// Generated scripts run to the end on the kernel: every answer is an errno
// or a fault, nothing crashes, and nothing is refused, except a heap line
// where the process's break is not free (ErrNoBrk: a -race build).
func TestGeneratedScripts(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 20
	}
	e := newEngine(t)
	noBrk := 0
	defer func() { t.Logf("%d scripts, %d stopped at a heap line (ErrNoBrk)", n, noBrk) }()
	for seed := range uint64(n) {
		s := script.Generate(rand.New(rand.NewPCG(seed, 2)), 40)
		var out bytes.Buffer
		if err := script.Run(e, strings.NewReader(s), &out); errors.Is(err, kernel.ErrNoBrk) {
			noBrk++
		} else if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, out.String())
		}
		if strings.Contains(out.String(), "PARSE_ERROR") {
			t.Fatalf("seed %d: parse error\n%s", seed, out.String())
		}
		if err := e.Reset(); err != nil {
			t.Fatalf("seed %d: reset: %v", seed, err)
		}
	}
}

// diff shows the first differing lines of two transcripts.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var sb strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			shown++
			sb.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
		}
	}
	return sb.String()
}

// A heap script gives the same answers twice on one engine: Reset gives
// the break back at start_brk and the region back where it was.
func TestHeapResetGivesTheBreakBack(t *testing.T) {
	e := newEngine(t)
	src := "heap 0x10000\nbrk 0x13000\ntouch 0x10000 7\nmmap 0x20000 0x1000 rw- private,anon,fixed\nbrk 0x30000\nbrk 0x1f000\nmaps\n"
	var first string
	for i := range 3 {
		var out bytes.Buffer
		err := script.Run(e, strings.NewReader(src), &out)
		if errors.Is(err, kernel.ErrNoBrk) {
			t.Skip("the process's break is not free here (a -race build's glibc uses it)")
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = out.String()
		} else if out.String() != first {
			t.Fatalf("run %d differs:\n%s\nfirst:\n%s", i, out.String(), first)
		}
		if err := e.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(first, "brk 0x30000 -> 0 @+0x13000") || !strings.Contains(first, "[heap]") {
		t.Fatalf("unexpected answers:\n%s", first)
	}
}
