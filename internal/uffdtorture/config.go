package uffdtorture

import (
	"fmt"
	"io"
	"time"
)

// Config configures Run.
type Config struct {
	Duration time.Duration // how long the clients' threads run (default 10s)
	// Generation is how long one client process lives (default 4s): each
	// client is started again until Duration is over, with a new space
	// and handler and the whole image untouched again (the image's pages
	// are soon all touched or dropped, and a stale image page is what a
	// late drop or an early fault would show).
	Generation  time.Duration
	Clients     int           // client processes (default 3)
	Threads     int           // touching goroutines per client (default 4)
	Pages       int           // region size per client in pages (default 2048, a multiple of 64)
	Seed        uint64        // seed of every random choice
	EAGAINOneIn int           // inject EAGAIN into one fill in N (default 16; negative: never)
	Workers     int           // fault-serving goroutines per client in the server (default 2)
	Stall       time.Duration // a thread that makes no progress for this long is stuck (default 10s)
	// Exe is the binary started as a client (default: this one); it must
	// call ClientMain when EnvClient is set.
	Exe string
	// Args are its arguments (a test binary needs -test.run=^$).
	Args []string
	Log  io.Writer // violations, stuck threads and the server's log (nil: discarded)
}

func (c *Config) defaults() {
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Generation <= 0 {
		c.Generation = 4 * time.Second
	}
	if c.Clients <= 0 {
		c.Clients = 3
	}
	if c.Threads <= 0 {
		c.Threads = 4
	}
	if c.Pages <= 0 {
		c.Pages = 2048
	}
	c.Pages = (c.Pages + chunkPages - 1) / chunkPages * chunkPages
	if c.Pages < 2*chunkPages {
		c.Pages = 2 * chunkPages
	}
	if c.EAGAINOneIn == 0 {
		c.EAGAINOneIn = 16
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.Stall <= 0 {
		c.Stall = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// chunkPages is the unit of hot-plug and of the client's chunk locks.
const chunkPages = 64

// maxPages bounds a client's region: the pattern has 20 bits for a page.
const maxPages = 1 << 20

func (c *Config) check() error {
	if c.Pages > maxPages {
		return fmt.Errorf("at most %d pages per client", maxPages)
	}
	if c.Clients > 255 {
		return fmt.Errorf("at most 255 clients")
	}
	return nil
}

// EnvClient names the environment variable that makes a process run
// ClientMain: its value is the client's spec (JSON).
const EnvClient = "VMSPACE_UFFD_TORTURE"
