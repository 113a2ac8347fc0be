package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmspace/vmspace"
)

func init() {
	register("demo", "fault from several goroutines while another changes the layout, in both lock modes", runDemo)
}

// runDemo maps a few areas, faults in them from several goroutines while
// another goroutine maps, protects and unmaps memory beside them, and
// prints the layout and the lock counters, once per lock mode.
func runDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dur := fs.Duration("duration", 300*time.Millisecond, "how long each mode runs")
	faulters := fs.Int("faulters", 4, "faulting goroutines")
	withUffd := fs.Bool("uffd", false, "instead: lazy restore of a memory image by a client process through userfaultfd, with a balloon and memory hot-plug (Linux)")
	sizeMiB := fs.Int("size", 256, "with --uffd: the image size in MiB")
	clients := fs.Int("clients", 1, "with --uffd: client processes restoring the image at once (a torture run with several)")
	balloon := fs.String("balloon", "both", "with --uffd: who drops the balloon's pages: client (its own MADV_DONTNEED), space (the server's space, reaching the client through its memory channel), or both")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *withUffd {
		d := *dur
		if !isFlagSet(fs, "duration") {
			d = 3 * time.Second
		}
		return runUffdDemo(d, *sizeMiB, max(*clients, 1), *balloon)
	}
	for _, mode := range []vmspace.LockMode{vmspace.PerArea, vmspace.WholeSpace} {
		if err := demo(mode, *dur, *faulters); err != nil {
			return err
		}
	}
	return nil
}

func demo(mode vmspace.LockMode, dur time.Duration, faulters int) error {
	s, err := vmspace.New(vmspace.WithLockMode(mode))
	if err != nil {
		return err
	}
	defer s.Close()
	const pages = 64
	rw := vmspace.ProtRead | vmspace.ProtWrite
	priv := vmspace.MapPrivate | vmspace.MapAnonymous
	// One area per faulter, with a two-page gap between them, and a
	// churn zone far above.
	base := uint64(0x10000000)
	for i := 0; i < faulters; i++ {
		a := base + uint64(i)*(pages+2)*vmspace.PageSize
		if _, err := s.Map(a, pages*vmspace.PageSize, rw, priv|vmspace.MapFixed); err != nil {
			return err
		}
	}
	churn := uint64(0x40000000)

	var stop atomic.Bool
	var faults, layoutOps atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, faulters+1)
	for i := 0; i < faulters; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := base + uint64(i)*(pages+2)*vmspace.PageSize
			for n := 0; !stop.Load(); n++ {
				acc := vmspace.Read
				if n%2 == 0 {
					acc = vmspace.Write
				}
				if err := s.Fault(a+uint64(n%pages)*vmspace.PageSize, acc); err != nil {
					errc <- err
					return
				}
				faults.Add(1)
			}
		}(i)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; !stop.Load(); n++ {
			a := churn + uint64(n%16)*4*vmspace.PageSize
			if _, err := s.Map(a, 4*vmspace.PageSize, rw, priv|vmspace.MapFixed); err != nil {
				errc <- err
				return
			}
			_ = s.Protect(a+vmspace.PageSize, vmspace.PageSize, vmspace.ProtRead)
			// Protect the faulters' first area back and forth too, so
			// that some faults find it write-locked and fall back.
			if n%64 == 0 {
				prot := rw
				if n%128 == 0 {
					prot |= vmspace.ProtExec
				}
				_ = s.Protect(base, vmspace.PageSize, prot)
			}
			if n%2 == 1 {
				_ = s.Unmap(churn, 64*vmspace.PageSize)
			}
			layoutOps.Add(1)
		}
	}()
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	close(errc)
	// Each goroutine sends at most one error and stops; report the first.
	if err, ok := <-errc; ok {
		var fe *vmspace.FaultError
		if errors.As(err, &fe) {
			return fmt.Errorf("unexpected fault: %w", err)
		}
		return err
	}

	fmt.Printf("== mode %s: %d faulting goroutines, one changing the layout, %v\n", mode, faulters, dur)
	fmt.Printf("faults: %d (%.0f/s)   layout operations: %d\n", faults.Load(),
		float64(faults.Load())/dur.Seconds(), layoutOps.Load())
	st := s.Stats()
	fmt.Printf("counters: success=%d abort=%d retry=%d miss=%d fallback=%d under-space-lock=%d\n",
		st.Success, st.Abort, st.Retry, st.Miss, st.Fallback, st.SpaceLocked)
	fmt.Println("layout:")
	if err := s.WriteMaps(os.Stdout); err != nil {
		return err
	}
	fmt.Println()
	return nil
}

// isFlagSet reports whether the flag name was given on the command line.
func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
