package script

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Generated scripts parse line by line, end with maps, and depend only on
// the seed.
func TestGenerateRoundTrip(t *testing.T) {
	kinds := map[OpKind]int{}
	advices := map[Advice]bool{}
	for seed := range uint64(300) {
		s := Generate(rand.New(rand.NewPCG(seed, 1)), 60)
		if again := Generate(rand.New(rand.NewPCG(seed, 1)), 60); again != s {
			t.Fatalf("seed %d: not deterministic", seed)
		}
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if len(lines) != 60 || lines[59] != "maps" {
			t.Fatalf("seed %d: %d lines, last %q", seed, len(lines), lines[len(lines)-1])
		}
		for _, line := range lines {
			op, err := Parse(line)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			kinds[op.Kind]++
			if op.Kind == OpMadvise {
				advices[op.Advice] = true
			}
		}
	}
	for k := OpComment; k < opEnd; k++ {
		if kinds[k] == 0 {
			t.Errorf("no %v generated", k)
		}
	}
	if len(advices) != len(Advices()) {
		t.Errorf("only %d advices generated", len(advices))
	}
	if Generate(rand.New(rand.NewPCG(1, 1)), 0) != "" {
		t.Error("n=0 gives a non-empty script")
	}
}
