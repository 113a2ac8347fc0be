package uffdclient

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace/uffd"
)

// ImagePage writes page p of the demo's memory image into dst: every page
// different, no page zero.
func ImagePage(p int, dst []byte) {
	seed := (uint64(p) + 1) * 0x9E3779B97F4A7C15
	for i := 0; i < PageSize; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], seed^uint64(i)<<32|1)
	}
}

// WriteImage writes an image of pages pages to w.
func WriteImage(w io.Writer, pages int) error {
	buf := make([]byte, 256*PageSize)
	for p := 0; p < pages; {
		n := min(256, pages-p)
		for i := range n {
			ImagePage(p+i, buf[i*PageSize:(i+1)*PageSize])
		}
		if _, err := w.Write(buf[:n*PageSize]); err != nil {
			return err
		}
		p += n
	}
	return nil
}

// EnvDemo names the environment variable that makes vmspace run DemoMain:
// "PAGES,DURATION,SEED[,BALLOON]"; the server's socket is in EnvSocket.
// BALLOON says who drops the balloon's pages: "client" (its own
// MADV_DONTNEED, reaching the server as REMOVE events), "space" (a drop
// request: the server's space drops them and the drop reaches this
// process through its memory channel) or "both" (the default: either, at
// random).
const EnvDemo = "VMSPACE_UFFD_DEMO"

// Balloon modes (EnvDemo's BALLOON).
const (
	BalloonClient = "client"
	BalloonSpace  = "space"
	BalloonBoth   = "both"
)

// Page states of the demo's model.
const (
	stImage = 0 // the image's page
	stZero  = 1 // dropped or plugged again: zeros
	// stWritten+b: filled with byte b by the client
	stWritten = 2
)

// chunkPages is the hot-plug unit and the lock granularity of the model.
const chunkPages = 512

// DemoMain is the client of `vmspace demo --uffd`: a VMM restoring a
// memory image lazily. Worker goroutines read random pages (checking each
// against the model: the image, zeros, or their own writes) and write
// some; a balloon drops ranges with MADV_DONTNEED; a hot-plug goroutine
// munmaps whole chunks and maps them again (a plug request to the server).
// The client is cooperative (HandshakeMemory), so the balloon can also
// ask the server to drop ranges through its space.
// At the end every page is read and checked once more (the restore
// completes). It prints its counters and, last, "checked N bad K".
func DemoMain(spec string, w io.Writer) error {
	parts := bytes.Split([]byte(spec), []byte(","))
	balloonMode := BalloonBoth
	if len(parts) == 4 {
		balloonMode = string(parts[3])
		parts = parts[:3]
	}
	if len(parts) != 3 || (balloonMode != BalloonClient && balloonMode != BalloonSpace && balloonMode != BalloonBoth) {
		return fmt.Errorf("bad %s %q", EnvDemo, spec)
	}
	pages, err1 := strconv.Atoi(string(parts[0]))
	dur, err2 := time.ParseDuration(string(parts[1]))
	seed, err3 := strconv.Atoi(string(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil || pages <= 0 {
		return fmt.Errorf("bad %s %q", EnvDemo, spec)
	}
	// The collector is off, as in the torture's client: a stop-the-world
	// waits for every goroutine, and one waiting in a fault (a CPU trap)
	// stops only where Go can preempt it asynchronously; a fault taken in
	// code it cannot (memmove, assembly) would hold the world, and with it
	// the goroutine answering the server's Memory calls, which the
	// session the fault waits for needs. The demo allocates little.
	debug.SetGCPercent(-1)
	c, err := Open(pages * PageSize)
	if err != nil {
		return err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: os.Getenv(EnvSocket), Net: "unix"})
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := c.HandshakeMemory(conn, 0); err != nil {
		return err
	}
	nchunks := (pages + chunkPages - 1) / chunkPages
	d := &demo{c: c, conn: conn, pages: pages, state: make([]uint16, pages),
		mu: make([]sync.Mutex, nchunks), balloonMode: balloonMode}
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	const workers = 4
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
			d.worker(r, deadline)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := d.balloon(rand.New(rand.NewPCG(uint64(seed), 100)), deadline); err != nil {
			errc <- err
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.hotplug(rand.New(rand.NewPCG(uint64(seed), 200)), deadline, nchunks); err != nil {
			errc <- err
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	// The restore completes: every page read once more.
	exp := make([]byte, PageSize)
	for p := range pages {
		d.check(p, exp)
	}
	fmt.Fprintf(w, "client: %d reads, %d writes, %d pages ballooned in %d drops (%d of them by the server's space), %d chunks unplugged and plugged again\n",
		d.reads.Load(), d.writes.Load(), d.dropped.Load(), d.drops.Load(), d.spaceDrops.Load(), d.plugs.Load())
	fmt.Fprintf(w, "client: %d lost (zeros or a fault where data was due), %d stale (other data)\n", d.lost.Load(), d.stale.Load())
	fmt.Fprintf(w, "checked %d bad %d\n", d.checked.Load(), d.lost.Load()+d.stale.Load())
	return nil
}

type demo struct {
	c     *Client
	conn  *net.UnixConn
	pages int
	state []uint16     // per page, under mu[page/chunkPages]
	mu    []sync.Mutex // per chunk
	// unplugged chunks, under their mu
	unplugged sync.Map
	// connMu serializes request/answer pairs on conn (hot-plug and the
	// balloon's drop requests). Taken after a chunk lock, never before.
	connMu      sync.Mutex
	balloonMode string

	reads, writes, checked, lost, stale, drops, dropped, spaceDrops, plugs atomic.Int64
}

// expected writes the model's contents of page p into dst.
// Precondition: p's chunk lock held.
func (d *demo) expected(p int, dst []byte) {
	switch st := d.state[p]; {
	case st == stImage:
		ImagePage(p, dst)
	case st == stZero:
		clear(dst)
	default:
		b := byte(st - stWritten)
		for i := range dst {
			dst[i] = b
		}
	}
}

// check reads page p (real faults) and compares it with the model.
func (d *demo) check(p int, exp []byte) {
	ch := p / chunkPages
	d.mu[ch].Lock()
	defer d.mu[ch].Unlock()
	if _, ok := d.unplugged.Load(ch); ok {
		return
	}
	d.expected(p, exp)
	got, ok := d.c.Touch(p)
	d.checked.Add(1)
	switch {
	case !ok:
		d.lost.Add(1)
	case got == Hash(exp):
	case got == Hash(make([]byte, PageSize)):
		d.lost.Add(1)
	default:
		d.stale.Add(1)
	}
}

func (d *demo) worker(r *rand.Rand, deadline time.Time) {
	exp := make([]byte, PageSize)
	for i := 0; ; i++ {
		if i%64 == 0 && time.Now().After(deadline) {
			return
		}
		p := r.IntN(d.pages)
		if r.IntN(5) > 0 {
			d.reads.Add(1)
			d.check(p, exp)
			continue
		}
		ch := p / chunkPages
		d.mu[ch].Lock()
		if _, ok := d.unplugged.Load(ch); !ok {
			b := byte(1 + r.IntN(255))
			if d.c.Store(p, b) {
				d.state[p] = stWritten + uint16(b)
			} else {
				d.lost.Add(1)
			}
			d.writes.Add(1)
		}
		d.mu[ch].Unlock()
	}
}

// balloon drops random ranges inside one chunk: by MADV_DONTNEED here
// (REMOVE events for the server), or by a drop request that the server
// does through its space and that comes back here through the memory
// channel before the answer. The model says zeros only once the drop is
// done either way; the chunk lock keeps the checks of the range out
// meanwhile (the faults of other chunks go on).
func (d *demo) balloon(r *rand.Rand, deadline time.Time) error {
	for time.Now().Before(deadline) {
		ch := r.IntN(len(d.mu))
		d.mu[ch].Lock()
		if _, ok := d.unplugged.Load(ch); !ok {
			first := ch * chunkPages
			last := min(first+chunkPages, d.pages)
			lo := first + r.IntN(last-first)
			n := min(1+r.IntN(64), last-lo)
			addr, length := d.c.Addr+uint64(lo*PageSize), uint64(n*PageSize)
			var e unix.Errno
			if d.balloonMode == BalloonSpace || (d.balloonMode == BalloonBoth && r.IntN(2) == 0) {
				d.connMu.Lock()
				ok, err := dropRequest(d.conn, addr, length)
				d.connMu.Unlock()
				if err != nil || !ok {
					d.mu[ch].Unlock()
					return fmt.Errorf("drop request refused (%v)", err)
				}
				d.spaceDrops.Add(1)
			} else {
				_, _, e = unix.Syscall(unix.SYS_MADVISE, uintptr(addr), uintptr(length), unix.MADV_DONTNEED)
			}
			if e == 0 {
				for p := lo; p < lo+n; p++ {
					d.state[p] = stZero
				}
				d.drops.Add(1)
				d.dropped.Add(int64(n))
			}
		}
		d.mu[ch].Unlock()
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// hotplug unplugs a chunk (munmap: an UNMAP event), waits, and plugs it
// again (mmap, UFFDIO_REGISTER, a plug request).
func (d *demo) hotplug(r *rand.Rand, deadline time.Time, nchunks int) error {
	for time.Now().Before(deadline) {
		ch := r.IntN(nchunks)
		first := ch * chunkPages
		n := min(chunkPages, d.pages-first)
		addr := uintptr(d.c.Addr) + uintptr(first*PageSize)
		length := uintptr(n * PageSize)
		d.mu[ch].Lock()
		if _, _, e := unix.Syscall(unix.SYS_MUNMAP, addr, length, 0); e != 0 {
			d.mu[ch].Unlock()
			return fmt.Errorf("munmap: %v", e)
		}
		d.unplugged.Store(ch, true)
		d.mu[ch].Unlock()
		time.Sleep(2 * time.Millisecond)
		d.mu[ch].Lock()
		got, _, e := unix.Syscall6(unix.SYS_MMAP, addr, length, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED|unix.MAP_NORESERVE, ^uintptr(0), 0)
		if e != 0 || got != addr {
			d.mu[ch].Unlock()
			return fmt.Errorf("mmap: %v", e)
		}
		if err := uffd.Register(d.c.Fd, addr, length, d.c.Mode); err != nil {
			d.mu[ch].Unlock()
			return fmt.Errorf("register: %v", err)
		}
		var req [16]byte
		binary.LittleEndian.PutUint64(req[:8], uint64(addr))
		binary.LittleEndian.PutUint64(req[8:], uint64(length))
		d.connMu.Lock()
		if _, err := d.conn.Write(req[:]); err != nil {
			d.connMu.Unlock()
			d.mu[ch].Unlock()
			return err
		}
		var ans [1]byte
		if _, err := io.ReadFull(d.conn, ans[:]); err != nil || ans[0] != 0 {
			d.connMu.Unlock()
			d.mu[ch].Unlock()
			return fmt.Errorf("plug refused (%v)", err)
		}
		d.connMu.Unlock()
		for p := first; p < first+n; p++ {
			d.state[p] = stZero
		}
		d.unplugged.Delete(ch)
		d.plugs.Add(1)
		d.mu[ch].Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}
