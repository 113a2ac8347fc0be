package kernel_test

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vmspace/vmspace/internal/kernel"
	"github.com/vmspace/vmspace/internal/script"
)

func TestZZMany(t *testing.T) {
	e := newEngine(t)
	for seed := range uint64(3000) {
		s := script.Generate(rand.New(rand.NewPCG(seed, 99)), 10+int(seed%150))
		var out bytes.Buffer
		if err := script.Run(e, strings.NewReader(s), &out); err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, out.String())
		}
		// determinism of the kernel itself: run again on a cleared region
		e.Munmap(^uint64(kernel.RegionSize-1), 3*kernel.RegionSize)
		var out2 bytes.Buffer
		script.Run(e, strings.NewReader(s), &out2)
		if out.String() != out2.String() {
			t.Errorf("seed %d: two runs differ", seed)
			a, b := strings.Split(out.String(), "\n"), strings.Split(out2.String(), "\n")
			for i := range a { if i < len(b) && a[i] != b[i] { t.Logf("%q vs %q", a[i], b[i]); break } }
		}
		e.Munmap(^uint64(kernel.RegionSize-1), 3*kernel.RegionSize)
	}
}
