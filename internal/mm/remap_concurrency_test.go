package mm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vmspace/vmspace/internal/frames"
)

// Concurrency tests of Remap, Advise and Fork: faulting goroutines run
// against a writer that moves, advises and forks the same memory. The
// invariants are checked all along (no overlap, no area both attached and
// freed), every lock word is back at 1 at the end, and every byte read is
// one that can be there.

const (
	// ccHome and ccAway are the two homes of the moving area.
	ccHome = tbase
	ccAway = tbase + 64*pg
	// ccScratch takes dontneed and guard regions; ccPages is the size of
	// each region.
	ccScratch = tbase + 128*pg
	ccPages   = 8
	// ccVal is what the scratch writers write.
	ccVal = 0x5a
)

// ccValue is the byte page i of the moving area holds.
func ccValue(i int) byte { return byte(0x10 + i) }

// ccSetup maps the moving area at ccHome with its values, and the scratch
// area.
func ccSetup(t testing.TB, s *Space) {
	t.Helper()
	if _, err := s.Map(ccHome, ccPages*pg, rw, priv|MapFixed); err != nil {
		t.Fatal(err)
	}
	for i := range ccPages {
		if _, err := s.WriteAt([]byte{ccValue(i)}, ccHome+uint64(i)*pg+7); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Map(ccScratch, ccPages*pg, rw, priv|MapFixed); err != nil {
		t.Fatal(err)
	}
}

// ccCheckRead checks one read of the moving area's page i at base: its
// value, or a fault with no mapping there.
func ccCheckRead(s *Space, base uint64, i int) error {
	var b [1]byte
	_, err := s.ReadAt(b[:], base+uint64(i)*pg+7)
	switch {
	case err == nil && b[0] != ccValue(i):
		return fmt.Errorf("page %d at %#x reads %#x, want %#x", i, base, b[0], ccValue(i))
	case err != nil && faultCode(err) != MapErr:
		return fmt.Errorf("page %d at %#x: %v", i, base, err)
	}
	return nil
}

// ccCheckScratch checks one access to the scratch area: a write, or a
// read that finds zero or what the writers write; either may hit a guard.
func ccCheckScratch(s *Space, r *rand.Rand) error {
	addr := ccScratch + uint64(r.IntN(ccPages))*pg + uint64(r.IntN(pg))
	if r.IntN(2) == 0 {
		_, err := s.WriteAt([]byte{ccVal}, addr)
		if err != nil && faultCode(err) != MapErr {
			return fmt.Errorf("write at %#x: %v", addr, err)
		}
		return nil
	}
	var b [1]byte
	_, err := s.ReadAt(b[:], addr)
	switch {
	case err == nil && b[0] != 0 && b[0] != ccVal:
		return fmt.Errorf("scratch at %#x reads %#x", addr, b[0])
	case err != nil && faultCode(err) != MapErr:
		return fmt.Errorf("read at %#x: %v", addr, err)
	}
	return nil
}

// ccChurn is one step of the writer: it moves the area between its homes
// (whole, or as a span of areas after an advice split it), advises the
// scratch area, or forks and checks the child.
func ccChurn(t *testing.T, s *Space, r *rand.Rand, at *uint64) {
	other := uint64(ccAway)
	if *at == ccAway {
		other = ccHome
	}
	switch r.IntN(6) {
	case 0, 1:
		if _, err := s.Remap(*at, ccPages*pg, ccPages*pg, RemapMayMove|RemapFixed, other); err != nil {
			t.Errorf("remap %#x -> %#x: %v", *at, other, err)
			return
		}
		*at = other
	case 2:
		// Split the moving area and merge it back: readers must not care.
		i := uint64(r.IntN(ccPages))
		if err := s.Advise(*at+i*pg, pg, AdviseRandom); err != nil {
			t.Errorf("advise random: %v", err)
		}
		if err := s.Advise(*at, ccPages*pg, AdviseNormal); err != nil {
			t.Errorf("advise normal: %v", err)
		}
	case 3:
		adv := []Advice{AdviseDontNeed, AdviseFree, AdvisePageout, AdviseGuardInstall, AdviseGuardRemove, AdviseDontFork, AdviseDoFork}[r.IntN(7)]
		i, n := uint64(r.IntN(ccPages)), uint64(1+r.IntN(3))
		n = min(n, ccPages-i)
		if err := s.Advise(ccScratch+i*pg, n*pg, adv); err != nil {
			t.Errorf("advise %d: %v", adv, err)
		}
	case 4:
		if err := s.Advise(ccScratch, ccPages*pg, AdvisePopulateWrite); err != nil && !errors.Is(err, syscall.EFAULT) {
			t.Errorf("populate: %v", err)
		}
	case 5:
		c, err := s.Fork()
		if err != nil {
			t.Errorf("fork: %v", err)
			return
		}
		for i := range ccPages {
			if err := ccCheckRead(c, *at, i); err != nil {
				t.Errorf("child: %v", err)
			}
		}
		// The child's writes stay in the child.
		if _, err := c.WriteAt([]byte{0xee}, *at+7); err != nil {
			t.Errorf("child write: %v", err)
		}
		if err := c.CheckInvariants(true); err != nil {
			t.Errorf("child invariants: %v", err)
		}
		c.Close()
	}
}

// TestRemapAdviseForkConcurrent runs readers of the moving area and
// writers of the scratch area against ccChurn, in every configuration.
func TestRemapAdviseForkConcurrent(t *testing.T) {
	steps := 1500
	if testing.Short() {
		steps = 300
	}
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpace(t, mode, rec, nil)
		ccSetup(t, s)
		var (
			stop atomic.Bool
			wg   sync.WaitGroup
			bad  atomic.Int64
		)
		report := func(err error) {
			if err != nil && bad.Add(1) <= 5 {
				t.Error(err)
			}
		}
		for g := range 3 {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, 7))
				for !stop.Load() {
					base := uint64(ccHome)
					if r.IntN(2) == 0 {
						base = ccAway
					}
					report(ccCheckRead(s, base, r.IntN(ccPages)))
					report(ccCheckScratch(s, r))
				}
			}(uint64(g))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := s.CheckInvariants(false); err != nil {
					report(fmt.Errorf("invariants: %w", err))
					return
				}
			}
		}()
		r := rand.New(rand.NewPCG(99, uint64(mode)))
		at := uint64(ccHome)
		for range steps {
			ccChurn(t, s, r, &at)
		}
		stop.Store(true)
		wg.Wait()
		// Quiet now: the data is where the area is, every page once.
		for i := range ccPages {
			if err := ccCheckRead(s, at, i); err != nil {
				t.Error(err)
			}
			p := s.pt.Lookup((at + uint64(i)*pg - s.base) >> pageShift)
			if p == frames.None || s.mem.Maps(p) != 1 {
				t.Errorf("page %d: mapped %d times after the children closed, want 1", i, s.mem.Maps(p))
			}
		}
		if err := s.CheckInvariants(true); err != nil {
			t.Error(err)
		}
	})
}

// TestStackGrowthConcurrent: goroutines fault below a growsdown area at
// once; the area grows to the lowest of them, once per page reached, and
// every fault succeeds, while the area is also being protected and
// advised.
func TestStackGrowthConcurrent(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpace(t, mode, rec, nil)
		top := uint64(tbase + 1024*pg)
		if _, err := s.Map(top-pg, pg, rw, priv|MapFixed|MapGrowsDown); err != nil {
			t.Fatal(err)
		}
		const g, per = 4, 64
		var wg sync.WaitGroup
		errs := make(chan error, g*per)
		for k := range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range per {
					addr := top - pg - uint64(1+j*g+k)*pg
					if _, err := s.WriteAt([]byte{byte(j)}, addr); err != nil {
						errs <- fmt.Errorf("write at %#x: %w", addr, err)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_ = s.Advise(top-pg, pg, AdviseRandom)
				_ = s.Advise(top-pg, pg, AdviseNormal)
			}
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// The advice may have split the area as it grew; normal over the
		// whole of it merges it back.
		lowest := top - pg - g*per*pg
		if err := s.Advise(lowest, top-lowest, AdviseNormal); err != nil {
			t.Fatal(err)
		}
		ms := s.Maps()
		if len(ms) != 1 || ms[0].Start != lowest || ms[0].End != top {
			t.Errorf("layout %s, want one area [%#x, %#x)", layout(s), lowest, top)
		}
		for j := range per {
			var b [1]byte
			addr := top - pg - uint64(1+j*g)*pg
			if _, err := s.ReadAt(b[:], addr); err != nil || b[0] != byte(j) {
				t.Errorf("read at %#x: %#x, %v", addr, b[0], err)
			}
		}
	})
}

// TestForkSharing checks what a child sees and shares: private pages
// copy-on-write both ways, shared pages shared, dontfork areas absent,
// wipeonfork areas empty, locks not inherited, and every page mapped
// once again when the child is gone.
func TestForkSharing(t *testing.T) {
	forConfigs(t, func(t *testing.T, mode LockMode, rec bool) {
		s := newSpace(t, mode, rec, nil)
		const (
			private = tbase
			shared  = tbase + 16*pg
			nofork  = tbase + 32*pg
			wipe    = tbase + 48*pg
			locked  = tbase + 64*pg
		)
		if _, err := s.Map(private, 2*pg, rw, priv|MapFixed); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Map(shared, 2*pg, rw, MapShared|MapFixed); err != nil {
			t.Fatal(err)
		}
		for _, a := range []uint64{nofork, wipe} {
			if _, err := s.Map(a, pg, rw, priv|MapFixed); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Map(locked, pg, rw, priv|MapFixed|MapLocked); err != nil {
			t.Fatal(err)
		}
		for _, a := range []uint64{private, private + pg, shared, nofork, wipe, locked} {
			if _, err := s.WriteAt([]byte{0x11}, a); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Advise(nofork, pg, AdviseDontFork); err != nil {
			t.Fatal(err)
		}
		if err := s.Advise(wipe, pg, AdviseWipeOnFork); err != nil {
			t.Fatal(err)
		}
		c, err := s.Fork()
		if err != nil {
			t.Fatal(err)
		}
		read := func(sp *Space, a uint64) (byte, error) {
			var b [1]byte
			_, err := sp.ReadAt(b[:], a)
			return b[0], err
		}
		// Private: both see 0x11; writes stay on their side.
		mustWrite(t, s, private, 0x22)
		mustWrite(t, c, private+pg, 0x33)
		for _, x := range []struct {
			sp   *Space
			addr uint64
			want byte
		}{{s, private, 0x22}, {c, private, 0x11}, {s, private + pg, 0x11}, {c, private + pg, 0x33}} {
			if v, err := read(x.sp, x.addr); err != nil || v != x.want {
				t.Errorf("read %#x: %#x, %v; want %#x", x.addr, v, err, x.want)
			}
		}
		// Shared: one object.
		mustWrite(t, c, shared, 0x44)
		if v, _ := read(s, shared); v != 0x44 {
			t.Errorf("shared page: parent reads %#x after the child wrote 0x44", v)
		}
		if _, err := read(c, nofork); faultCode(err) != MapErr {
			t.Errorf("dontfork area in the child: %v", err)
		}
		if v, err := read(c, wipe); err != nil || v != 0 {
			t.Errorf("wipeonfork area in the child: %#x, %v", v, err)
		}
		for _, m := range c.Maps() {
			if m.Flags&VMLocked != 0 {
				t.Errorf("child area %#x-%#x still locked", m.Start, m.End)
			}
		}
		if err := c.CheckInvariants(true); err != nil {
			t.Error(err)
		}
		c.Close()
		for _, a := range []uint64{private, private + pg, wipe, locked} {
			if p := s.pt.Lookup((a - s.base) >> pageShift); p == frames.None || s.mem.Maps(p) != 1 {
				t.Errorf("page at %#x mapped %d times after the child closed", a, s.mem.Maps(p))
			}
		}
	})
}

func mustWrite(t *testing.T, s *Space, addr uint64, v byte) {
	t.Helper()
	if _, err := s.WriteAt([]byte{v}, addr); err != nil {
		t.Fatalf("write %#x at %#x: %v", v, addr, err)
	}
}
