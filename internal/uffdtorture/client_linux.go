package uffdtorture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace/internal/uffdclient"
	"github.com/vmspace/vmspace/uffd"
)

const pageSize = uffdclient.PageSize

// clientSpec is what a client process is told (EnvClient, JSON).
type clientSpec struct {
	ID, Pages, Threads int
	Duration, Stall    time.Duration
	Seed               uint64
	Socket             string
}

// resultPrefix starts the client's last line, its ClientResult as JSON.
const resultPrefix = "RESULT "

// Counters of a client (indexes into tclient.cnt).
const (
	cChecked = iota
	cStrict
	cRacy
	cLost
	cStale
	cTorn
	cWriteFaults
	cROWritesTaken
	cErrors
	cReads
	cWrites
	cROWrites
	cBalloons
	cServerAdvises
	cServerProtects
	cRemaps
	cRemapsRefused
	cHotplugs
	cServerUnmaps
	cRequests
	cMemoryCalls
	nCounters
)

// Operations, for the watchdog's report.
const (
	opRead = iota + 1
	opWrite
	opBalloon
	opServerAdvise
	opServerProtect
	opRemap
	opHotplug
	opServerUnmap
	opSweep
)

var opNames = [...]string{"", "read", "write", "balloon", "server advise", "server protect", "mremap", "hot-plug", "server unmap+map", "final sweep"}

// tclient is the client process's state.
type tclient struct {
	spec   clientSpec
	uc     *uffdclient.Client
	conn   *net.UnixConn
	w      msgWriter
	reqMu  sync.Mutex  // one request in flight
	done   chan uint64 // the answer to the request in flight
	gone   chan struct{}
	imgOff uint64 // the image page of the region's first page

	st    []atomic.Uint64 // per page: the model's state word (model_linux.go)
	chunk []sync.RWMutex  // per chunk: shared by every access, exclusive for the changes that leave a hole
	pmu   []sync.Mutex    // per page: held by whoever changes the page (under its chunk's shared lock)

	// recent holds the last ranges changed (lo<<16 | n): half the reads
	// go there, so that faults meet the events and sessions of the
	// changes just made.
	recent [16]atomic.Uint64
	next   atomic.Uint64

	cnt   [nCounters]atomic.Uint64
	beats []atomic.Uint64 // per thread (and the sweep): bumped once per operation
	doing []atomic.Uint64 // per thread: op<<32 | page

	out      io.Writer
	outMu    sync.Mutex
	reported atomic.Int64
}

// ClientMain runs a client process of the torture (spec: EnvClient's
// value) and writes its lines to out: violations, stuck threads, and last
// the result. It returns an error only when it could not start; a stuck
// thread makes it exit the process with status 3.
func ClientMain(spec string, out io.Writer) error {
	var cs clientSpec
	if err := json.Unmarshal([]byte(spec), &cs); err != nil {
		return fmt.Errorf("bad %s: %v", EnvClient, err)
	}
	// A goroutine in a fault cannot be stopped; a stop-the-world would
	// wait for the server, and the server may be waiting for this
	// process's answer to a Memory call. No collections, then, and
	// enough Ps that the goroutines blocked in faults do not starve the
	// one answering the server.
	debug.SetGCPercent(-1)
	runtime.GOMAXPROCS(cs.Threads + 4)
	uc, err := openRegion(cs.Pages * pageSize)
	if err != nil {
		return err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: cs.Socket, Net: "unix"})
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := uc.Handshake(conn, uint64(cs.ID*cs.Pages*pageSize)); err != nil {
		return err
	}
	c := &tclient{spec: cs, uc: uc, conn: conn, w: msgWriter{w: conn}, done: make(chan uint64, 1), gone: make(chan struct{}),
		imgOff: uint64(cs.ID * cs.Pages), st: make([]atomic.Uint64, cs.Pages), chunk: make([]sync.RWMutex, cs.Pages/chunkPages),
		pmu: make([]sync.Mutex, cs.Pages), beats: make([]atomic.Uint64, cs.Threads+1), doing: make([]atomic.Uint64, cs.Threads+1), out: out}
	for p := range c.st {
		c.st[p].Store(mkState(kindImage, false, uint64(p), 0))
	}
	go c.readConn()
	stopWatch := c.watchdog()
	deadline := time.Now().Add(cs.Duration)
	var wg sync.WaitGroup
	for t := range cs.Threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.thread(t, deadline)
		}()
	}
	wg.Wait()
	// The restore completes: every page read once more.
	var buf [wordsPerPage]uint64
	sweep := cs.Threads
	for p := range c.st {
		c.beats[sweep].Add(1)
		c.doing[sweep].Store(opSweep<<32 | uint64(p))
		c.read(p, &buf)
	}
	stopWatch()
	c.printResult(0)
	return nil
}

// regionAddr is where a client maps its region. Hot-plug and mremap
// leave holes in it for a moment; at an address the kernel's top-down
// search and the Go runtime's heap hints (i<<40 | 0xc0<<32) never reach,
// no mapping of the runtime's can land in such a hole and be clobbered
// when the hole is mapped again (MAP_FIXED; measured: with the region
// where the kernel put it, the runtime's heap was corrupted within a
// few seconds). Not in [0x2000_0000_0000, 0x4000_0000_0000) either: the
// race detector's shadow and metadata live there (0x3000_0000_0000
// crashed the -race build).
const regionAddr uintptr = 0x5000_0000_0000

// openRegion is uffdclient.Open at regionAddr.
func openRegion(size int) (*uffdclient.Client, error) {
	fd, _, err := uffd.Open(0, uffdclient.Features)
	if err != nil {
		fd, _, err = uffd.Open(uffd.UserModeOnly, uffdclient.Features)
	}
	if err != nil {
		return nil, fmt.Errorf("userfaultfd: %w", err)
	}
	hint := regionAddr
	p, err := unix.MmapPtr(-1, 0, *(*unsafe.Pointer)(unsafe.Pointer(&hint)), uintptr(size), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED_NOREPLACE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap at %#x: %v", regionAddr, err)
	}
	a := uintptr(p)
	if err := uffd.Register(fd, a, uintptr(size), uffd.RegisterMissing); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("register: %w", err)
	}
	return &uffdclient.Client{Mem: unsafe.Slice((*byte)(p), size), Addr: uint64(a), Fd: fd}, nil
}

func (c *tclient) printf(format string, args ...any) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

func (c *tclient) result() ClientResult {
	n := func(i int) uint64 { return c.cnt[i].Load() }
	return ClientResult{Checked: n(cChecked), Strict: n(cStrict), Racy: n(cRacy), Lost: n(cLost), Stale: n(cStale), Torn: n(cTorn),
		WriteFaults: n(cWriteFaults), ROWritesTaken: n(cROWritesTaken), Errors: n(cErrors), Reads: n(cReads), Writes: n(cWrites),
		ROWrites: n(cROWrites), Balloons: n(cBalloons), ServerAdvises: n(cServerAdvises), ServerProtects: n(cServerProtects),
		Remaps: n(cRemaps), RemapsRefused: n(cRemapsRefused), Hotplugs: n(cHotplugs), ServerUnmaps: n(cServerUnmaps),
		Requests: n(cRequests), MemoryCalls: n(cMemoryCalls)}
}

func (c *tclient) printResult(stuck uint64) {
	r := c.result()
	r.Stuck = stuck
	b, _ := json.Marshal(r)
	c.printf("%s%s\n", resultPrefix, b)
}

// violate counts a violation of kind k and prints the first few.
func (c *tclient) violate(k int, format string, args ...any) {
	c.cnt[k].Add(1)
	if c.reported.Add(1) <= 20 {
		c.printf("violation: client %d: "+format+"\n", append([]any{c.spec.ID}, args...)...)
	}
}

// watchdog reports the threads whose heartbeat has not moved for Stall,
// with what they are doing, and ends the process (status 3).
func (c *tclient) watchdog() (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := make([]uint64, len(c.beats))
		since := make([]time.Time, len(c.beats))
		now := time.Now()
		for i := range since {
			since[i] = now
		}
		tick := time.NewTicker(max(c.spec.Stall/8, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				var stuck uint64
				for i := range c.beats {
					if b := c.beats[i].Load(); b != last[i] {
						last[i], since[i] = b, now
					} else if d := c.doing[i].Load(); d != 0 && now.Sub(since[i]) >= c.spec.Stall {
						stuck++
						c.printf("stuck: client %d thread %d: in %s at page %d for %v\n", c.spec.ID, i, opNames[d>>32], d&(1<<32-1), now.Sub(since[i]).Round(time.Millisecond))
					}
				}
				if stuck > 0 {
					c.printResult(stuck)
					unix.Exit(3)
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// thread runs random operations until the deadline.
func (c *tclient) thread(t int, deadline time.Time) {
	debug.SetPanicOnFault(true)
	r := rand.New(rand.NewPCG(c.spec.Seed, uint64(c.spec.ID)<<16|uint64(t)))
	var buf [wordsPerPage]uint64
	pages := len(c.st)
	for i := 0; ; i++ {
		if i%16 == 0 && time.Now().After(deadline) {
			c.doing[t].Store(0)
			return
		}
		c.beats[t].Add(1)
		x := r.IntN(1000)
		switch {
		case x < 600:
			p := r.IntN(pages)
			if x%2 == 0 {
				if v := c.recent[r.IntN(len(c.recent))].Load(); v != 0 {
					p = int(v>>16) + r.IntN(int(v&0xffff))
				}
			}
			for k := range 1 + r.IntN(4) {
				if p+k < pages {
					c.doing[t].Store(opRead<<32 | uint64(p+k))
					c.read(p+k, &buf)
				}
			}
		case x < 750:
			p := r.IntN(pages)
			c.doing[t].Store(opWrite<<32 | uint64(p))
			c.write(p, &buf)
		case x < 830:
			lo, n := c.pickRange(r, 32)
			c.doing[t].Store(opBalloon<<32 | uint64(lo))
			c.drop(lo, n, false)
		case x < 880:
			lo, n := c.pickRange(r, 32)
			c.doing[t].Store(opServerAdvise<<32 | uint64(lo))
			c.drop(lo, n, true)
		case x < 930:
			lo, n := c.pickRange(r, 32)
			c.doing[t].Store(opServerProtect<<32 | uint64(lo))
			c.protect(lo, n, r.IntN(2) == 0)
		case x < 960:
			c.remap(t, r)
		case x < 975:
			ch := r.IntN(len(c.chunk))
			c.doing[t].Store(opHotplug<<32 | uint64(ch*chunkPages))
			c.hotplug(ch)
		default:
			lo, n := c.pickRange(r, 32)
			c.doing[t].Store(opServerUnmap<<32 | uint64(lo))
			c.serverUnmap(lo, n)
		}
	}
}

// pickRange picks up to max pages inside one chunk, and notes it among
// the recent ranges.
func (c *tclient) pickRange(r *rand.Rand, most int) (lo, n int) {
	ch := r.IntN(len(c.chunk))
	n = 1 + r.IntN(most)
	lo = ch*chunkPages + r.IntN(chunkPages-n+1)
	c.noteRecent(lo, n)
	return lo, n
}

func (c *tclient) noteRecent(lo, n int) {
	c.recent[c.next.Add(1)%uint64(len(c.recent))].Store(uint64(lo)<<16 | uint64(n))
}

func (c *tclient) page(p int) *[wordsPerPage]uint64 {
	return (*[wordsPerPage]uint64)(unsafe.Pointer(&c.uc.Mem[p*pageSize]))
}

func (c *tclient) addr(p int) uintptr { return uintptr(c.uc.Addr) + uintptr(p)*pageSize }

// set stores state s for page p, bumping its sequence number.
// Precondition: the page's lock or its chunk's exclusive lock.
func (c *tclient) set(p int, s uint64) {
	old := c.st[p].Load()
	c.st[p].Store(s&(1<<seqShift-1) | (old>>seqShift+1)<<seqShift)
}

// load reads page p word by word with plain loads (real read faults); ok
// is false if the access raised SIGSEGV or SIGBUS.
func (c *tclient) load(p int, buf *[wordsPerPage]uint64) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	// Plain loads, not sync/atomic: under the race detector an atomic
	// runs in its C runtime, where a SIGSEGV or SIGBUS cannot become a
	// Go panic; a plain load's check skips addresses outside Go's memory.
	src := c.page(p)
	for i := range buf {
		buf[i] = src[i]
	}
	return true
}

// read reads page p and checks it against the model.
func (c *tclient) read(p int, buf *[wordsPerPage]uint64) {
	ch := &c.chunk[p/chunkPages]
	ch.RLock()
	defer ch.RUnlock()
	c.cnt[cReads].Add(1)
	s1 := c.st[p].Load()
	ok := c.load(p, buf)
	s2 := c.st[p].Load()
	c.check(p, s1, s2, ok, buf)
}

// want is word i of the contents state s says the page holds.
func (c *tclient) want(s uint64, i int) uint64 {
	switch kindOf(s) {
	case kindImage:
		return imageWord(c.imgOff+originOf(s), i)
	case kindWritten:
		return patternWord(uint64(c.spec.ID), originOf(s), verOf(s), i)
	}
	return 0
}

// plausible reports whether w can be word i of a page in state s or in a
// change from or to it: zero, the image's word, or this client's pattern
// for the same page.
func (c *tclient) plausible(w uint64, i int, s uint64) bool {
	return w == 0 || w == imageWord(c.imgOff+originOf(s), i) ||
		(w>>56 == patternTag && w>>48&0xff == uint64(c.spec.ID) && w>>28&originMask == originOf(s) && w&0xfff == uint64(i))
}

// describe says what word w at index i looks like, for a violation's line.
func (c *tclient) describe(w uint64, i int, p int) string {
	switch {
	case w == 0:
		return "zero"
	case w>>56 == patternTag && w&0xfff == uint64(i):
		return fmt.Sprintf("the pattern of client %d page %d version %d", w>>48&0xff, w>>28&originMask, w>>12&verMask)
	}
	for q := max(0, p-4096); q < min(len(c.st), p+4096); q++ {
		if w == imageWord(c.imgOff+uint64(q), i) {
			return fmt.Sprintf("the image of page %d", q)
		}
	}
	return "unknown"
}

func stateString(s uint64) string {
	k := [...]string{"image", "zero", "written", "?"}[kindOf(s)]
	str := fmt.Sprintf("%s of page %d", k, originOf(s))
	if kindOf(s) == kindWritten {
		str += fmt.Sprintf(" v%d", verOf(s))
	}
	if s&stRO != 0 {
		str += ", read-only"
	}
	if s&stBusy != 0 {
		str += ", busy"
	}
	return str + fmt.Sprintf(", seq %d", s>>seqShift)
}

// check compares what a read of page p saw with the model: exactly when
// the state did not change (s1 == s2, not busy), word by word against the
// possible contents when the read raced a change.
func (c *tclient) check(p int, s1, s2 uint64, ok bool, buf *[wordsPerPage]uint64) {
	c.cnt[cChecked].Add(1)
	strict := s1 == s2 && s1&stBusy == 0
	if strict {
		c.cnt[cStrict].Add(1)
	} else {
		c.cnt[cRacy].Add(1)
	}
	if !ok {
		c.violate(cLost, "page %d (%s, then %s): the read faulted", p, stateString(s1), stateString(s2))
		return
	}
	if strict {
		for i := range buf {
			if want := c.want(s1, i); buf[i] != want {
				k := cStale
				if want != 0 && allZero(buf) {
					k = cLost
				}
				c.violate(k, "page %d (%s): word %d is %#x (%s), want %#x", p, stateString(s1), i, buf[i], c.describe(buf[i], i, p), want)
				return
			}
		}
		return
	}
	for i := range buf {
		if !c.plausible(buf[i], i, s1) && !c.plausible(buf[i], i, s2) {
			c.violate(cTorn, "page %d (%s, then %s): word %d is %#x (%s), fits neither", p, stateString(s1), stateString(s2), i, buf[i], c.describe(buf[i], i, p))
			return
		}
	}
}

func allZero(buf *[wordsPerPage]uint64) bool {
	for _, w := range buf {
		if w != 0 {
			return false
		}
	}
	return true
}

// fill writes the pattern (origin p, version v) into page p with plain
// stores (real write faults); false on a signal.
func (c *tclient) fill(p int, v uint64) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	dst := c.page(p)
	for i := range dst {
		dst[i] = patternWord(uint64(c.spec.ID), uint64(p), v, i)
	}
	return true
}

// storeOne stores one word into page p; false on a signal.
func (c *tclient) storeOne(p int) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	c.page(p)[0] = ^uint64(0)
	return true
}

// write writes page p; on a page the model says is read-only it checks
// that a store faults and leaves the page as it was.
func (c *tclient) write(p int, buf *[wordsPerPage]uint64) {
	ch := &c.chunk[p/chunkPages]
	ch.RLock()
	defer ch.RUnlock()
	c.pmu[p].Lock()
	defer c.pmu[p].Unlock()
	s := c.st[p].Load()
	if s&stRO != 0 {
		c.cnt[cROWrites].Add(1)
		// Present first (a missing page's write fault in a read-only
		// area is answered with poison, which would stay): the store
		// must then meet the host protection, SIGSEGV.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, c.addr(p), pageSize, unix.MADV_POPULATE_READ); e != 0 {
			c.violate(cErrors, "page %d (%s): MADV_POPULATE_READ: %v", p, stateString(s), e)
			return
		}
		if c.storeOne(p) {
			c.violate(cROWritesTaken, "page %d (%s): a store to the read-only page did not fault", p, stateString(s))
			c.set(p, s|stBusy) // its contents are unknown now
			return
		}
		ok := c.load(p, buf)
		c.check(p, s, s, ok, buf)
		return
	}
	c.cnt[cWrites].Add(1)
	v := (verOf(s) + 1) & verMask
	c.set(p, s|stBusy)
	if !c.fill(p, v) {
		c.violate(cWriteFaults, "page %d (%s): a store faulted on a writable page", p, stateString(s))
		return // stays busy: its contents are unknown
	}
	c.set(p, mkState(kindWritten, false, uint64(p), v))
}

func (c *tclient) lockPages(lo, n int) {
	for p := lo; p < lo+n; p++ {
		c.pmu[p].Lock()
	}
}

func (c *tclient) unlockPages(lo, n int) {
	for p := lo; p < lo+n; p++ {
		c.pmu[p].Unlock()
	}
}

// drop drops pages [lo, lo+n), by the client's own MADV_DONTNEED (a
// REMOVE event) or by the server's Space.Advise (whose Memory asks this
// client to zap), while other threads read them.
func (c *tclient) drop(lo, n int, server bool) {
	ch := &c.chunk[lo/chunkPages]
	ch.RLock()
	defer ch.RUnlock()
	c.lockPages(lo, n)
	defer c.unlockPages(lo, n)
	for p := lo; p < lo+n; p++ {
		c.set(p, c.st[p].Load()|stBusy)
	}
	var err error
	if server {
		c.cnt[cServerAdvises].Add(1)
		err = c.request(reqAdvise, uint64(c.addr(lo)), uint64(n*pageSize), 0)
	} else {
		c.cnt[cBalloons].Add(1)
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, c.addr(lo), uintptr(n*pageSize), unix.MADV_DONTNEED); e != 0 {
			err = e
		}
	}
	if err != nil {
		c.violate(cErrors, "drop [%d, +%d) (server %v): %v", lo, n, server, err)
		return // the pages stay busy
	}
	for p := lo; p < lo+n; p++ {
		c.set(p, mkState(kindZero, c.st[p].Load()&stRO != 0, uint64(p), 0))
	}
}

// protect has the server change the protection of [lo, lo+n) (its
// Memory mprotects this client's pages) while other threads read them.
func (c *tclient) protect(lo, n int, ro bool) {
	ch := &c.chunk[lo/chunkPages]
	ch.RLock()
	defer ch.RUnlock()
	c.lockPages(lo, n)
	defer c.unlockPages(lo, n)
	c.cnt[cServerProtects].Add(1)
	prot := uint64(unix.PROT_READ | unix.PROT_WRITE)
	if ro {
		prot = unix.PROT_READ
	}
	if err := c.request(reqProtect, uint64(c.addr(lo)), uint64(n*pageSize), prot); err != nil {
		c.violate(cErrors, "server protect [%d, +%d): %v", lo, n, err)
		return
	}
	for p := lo; p < lo+n; p++ {
		s := c.st[p].Load() &^ stRO
		if ro {
			s |= stRO
		}
		c.set(p, s)
	}
}

// replug maps [lo, lo+n) again after a munmap or an mremap moved it
// away, registers it and asks the server for the area.
func (c *tclient) replug(lo, n int) error {
	a, l := c.addr(lo), uintptr(n*pageSize)
	got, _, e := unix.Syscall6(unix.SYS_MMAP, a, l, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE, ^uintptr(0), 0)
	if e != 0 || got != a {
		return fmt.Errorf("mmap: %v", e)
	}
	if err := uffd.Register(c.uc.Fd, a, l, uffd.RegisterMissing); err != nil {
		return fmt.Errorf("register: %v", err)
	}
	if err := c.request(reqPlug, uint64(a), uint64(l), 0); err != nil {
		return fmt.Errorf("plug: %v", err)
	}
	return nil
}

// setZero sets [lo, lo+n) to zeros, read-write.
func (c *tclient) setZero(lo, n int) {
	for p := lo; p < lo+n; p++ {
		c.set(p, mkState(kindZero, false, uint64(p), 0))
	}
}

// hotplug unplugs chunk ch (munmap: an UNMAP event) and plugs it again.
func (c *tclient) hotplug(ch int) {
	c.chunk[ch].Lock()
	defer c.chunk[ch].Unlock()
	c.cnt[cHotplugs].Add(1)
	lo := ch * chunkPages
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, c.addr(lo), chunkPages*pageSize, 0); e != 0 {
		c.violate(cErrors, "hot-plug: munmap chunk %d: %v", ch, e)
		return
	}
	if err := c.replug(lo, chunkPages); err != nil {
		c.violate(cErrors, "hot-plug chunk %d: %v", ch, err)
		return
	}
	c.setZero(lo, chunkPages)
}

// remap moves up to 16 pages to another chunk (mremap: UNMAP of the
// target and REMAP events) and plugs the hole; with RacyLayout it lets
// the target chunk's readers and droppers in at once (their faults must
// wait for the REMAP to be mirrored).
func (c *tclient) remap(t int, r *rand.Rand) {
	a, b := r.IntN(len(c.chunk)), r.IntN(len(c.chunk)-1)
	if b >= a {
		b++
	}
	n := 1 + r.IntN(16)
	from := a*chunkPages + r.IntN(chunkPages-n+1)
	to := b*chunkPages + r.IntN(chunkPages-n+1)
	c.doing[t].Store(opRemap<<32 | uint64(from))
	c.noteRecent(to, n)
	c.noteRecent(from, n)
	first, second := &c.chunk[min(a, b)], &c.chunk[max(a, b)]
	first.Lock()
	second.Lock()
	l := uintptr(n * pageSize)
	_, _, e := unix.Syscall6(unix.SYS_MREMAP, c.addr(from), l, l, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, c.addr(to), 0)
	if e != 0 {
		second.Unlock()
		first.Unlock()
		if e == unix.EFAULT { // the range spans two host mappings
			c.cnt[cRemapsRefused].Add(1)
			return
		}
		c.violate(cErrors, "mremap [%d, +%d) -> %d: %v", from, n, to, e)
		return
	}
	c.cnt[cRemaps].Add(1)
	for k := range n {
		c.set(to+k, c.st[from+k].Load())
	}
	// The target's readers, writers, droppers and the server's changes
	// race the mirroring of the REMAP from here on: their faults must
	// wait for it, and a server change of the target must be made on
	// the moved area (Handler.Order), not the one it replaced.
	c.chunk[b].Unlock()
	if err := c.replug(from, n); err != nil { // the REMAP is mirrored before the plug's Map (Order)
		c.violate(cErrors, "mremap: the hole [%d, +%d): %v", from, n, err)
	} else {
		c.setZero(from, n)
	}
	c.chunk[a].Unlock()
}

// serverUnmap has the server unmap [lo, lo+n) (its Memory zaps and makes
// the pages inaccessible), checks that a load there faults, and has it
// map the range again.
func (c *tclient) serverUnmap(lo, n int) {
	ch := &c.chunk[lo/chunkPages]
	ch.Lock()
	defer ch.Unlock()
	c.cnt[cServerUnmaps].Add(1)
	if err := c.request(reqUnmap, uint64(c.addr(lo)), uint64(n*pageSize), 0); err != nil {
		c.violate(cErrors, "server unmap [%d, +%d): %v", lo, n, err)
		return
	}
	// The host protection (PROT_NONE) must refuse the access without
	// asking the handler (EINVAL on this kernel, EFAULT on others); a
	// fault that reached it would be poisoned (EHWPOISON: SIGBUS), and
	// the poison would outlive the Map below.
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, c.addr(lo), pageSize, unix.MADV_POPULATE_READ); e != unix.EINVAL && e != unix.EFAULT {
		c.violate(cErrors, "page %d: MADV_POPULATE_READ after the server unmapped it: %v, want EINVAL or EFAULT", lo, e)
	}
	if err := c.request(reqMap, uint64(c.addr(lo)), uint64(n*pageSize), 0); err != nil {
		c.violate(cErrors, "server map [%d, +%d): %v", lo, n, err)
		return
	}
	c.setZero(lo, n)
}

var errGoneClient = errors.New("server gone")

// request asks the server for a change through the Space and waits for
// its answer.
func (c *tclient) request(op, a, b, arg uint64) error {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	c.cnt[cRequests].Add(1)
	if err := c.w.write(message{op: op, a: a, b: b, c: arg}); err != nil {
		return err
	}
	select {
	case e := <-c.done:
		if e != 0 {
			return syscall.Errno(e)
		}
		return nil
	case <-c.gone:
		return errGoneClient
	}
}

// readConn answers the server's Memory calls (a system call each, no
// lock taken: the server waits for them inside a write session) and
// passes on the answers to requests.
func (c *tclient) readConn() {
	defer close(c.gone)
	for {
		m, err := readMsg(c.conn)
		if err != nil {
			return
		}
		var e syscall.Errno
		switch m.op {
		case callZap:
			_, _, e = unix.Syscall(unix.SYS_MADVISE, uintptr(m.a), uintptr(m.b), unix.MADV_DONTNEED)
		case callProtect:
			_, _, e = unix.Syscall(unix.SYS_MPROTECT, uintptr(m.a), uintptr(m.b), uintptr(m.c))
		case opDone:
			c.done <- m.c
			continue
		default:
			continue
		}
		c.cnt[cMemoryCalls].Add(1)
		if c.w.write(message{op: opAck, c: uint64(e)}) != nil {
			return
		}
	}
}
