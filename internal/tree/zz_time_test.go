package tree

import (
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZTime(t *testing.T) {
	t.Logf("L=%d M=%d", leafMax, innerMax)
	for _, n := range []int{1000, 1000000} {
		bpi := bytesPerItem(t, n, oneByOne)
		tr := oneByOne(t, n)
		N := 50000
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		c0, w0 := cpu(), time.Now()
		for i := range N {
			h := benchItem((i * 7919) % n).End
			ins := []Item[benchVal]{{h, h + page, benchVal{&shared, h}}}
			x := tr.Txn()
			x.Replace(h, h+page, ins)
			x.Commit()
			x = tr.Txn()
			x.Replace(h, h+page, nil)
			x.Commit()
		}
		pair := (cpu() - c0) / time.Duration(N)
		runtime.ReadMemStats(&ms1)
		bop := (ms1.TotalAlloc - ms0.TotalAlloc) / uint64(N)
		pairw := time.Since(w0) / time.Duration(N)
		s := tr.Snapshot()
		rng := rand.New(rand.NewPCG(1, 1))
		N = 1000000
		c0 = cpu()
		for range N {
			s.Find(benchItem(rng.IntN(n)).Start + 5)
		}
		find := (cpu() - c0) / time.Duration(N)
		t.Logf("n=%d bytes/item %.1f height %d pair cpu %v wall %v B/pair %d find %v", n, bpi, s.r.height, pair, pairw, bop, find)
	}
}
