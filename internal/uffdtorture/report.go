package uffdtorture

import (
	"fmt"
	"io"
)

// ClientResult is what one client process counted; it prints it as JSON
// on its last line, after resultPrefix.
type ClientResult struct {
	Checked, Strict, Racy      uint64 // page reads checked; of them exact, and racing a change
	Lost, Stale, Torn          uint64 // violations: zeros or a fault where data was due; other data; a racing read fitting no state
	WriteFaults, ROWritesTaken uint64 // violations: a write that faulted on a writable page; a store to a read-only page that did not fault
	Errors                     uint64 // violations: a syscall or request that failed where it must not
	Reads, Writes, ROWrites    uint64
	Balloons, ServerAdvises    uint64
	ServerProtects, Remaps     uint64
	RemapsRefused, Hotplugs    uint64
	ServerUnmaps, Requests     uint64
	MemoryCalls                uint64 // Memory calls of the server answered (zaps and protections)
	Stuck                      uint64 // threads found stuck by the watchdog
}

// Violations sums the violations.
func (r *ClientResult) Violations() uint64 {
	return r.Lost + r.Stale + r.Torn + r.WriteFaults + r.ROWritesTaken + r.Errors + r.Stuck
}

func (r *ClientResult) add(o *ClientResult) {
	r.Checked += o.Checked
	r.Strict += o.Strict
	r.Racy += o.Racy
	r.Lost += o.Lost
	r.Stale += o.Stale
	r.Torn += o.Torn
	r.WriteFaults += o.WriteFaults
	r.ROWritesTaken += o.ROWritesTaken
	r.Errors += o.Errors
	r.Reads += o.Reads
	r.Writes += o.Writes
	r.ROWrites += o.ROWrites
	r.Balloons += o.Balloons
	r.ServerAdvises += o.ServerAdvises
	r.ServerProtects += o.ServerProtects
	r.Remaps += o.Remaps
	r.RemapsRefused += o.RemapsRefused
	r.Hotplugs += o.Hotplugs
	r.ServerUnmaps += o.ServerUnmaps
	r.Requests += o.Requests
	r.MemoryCalls += o.MemoryCalls
	r.Stuck += o.Stuck
}

// ServerStats is what the server's handlers counted, over all clients.
type ServerStats struct {
	Faults, Copies, Zeropages, Poisons uint64
	EAGAIN, Injected                   uint64 // fills retried on EAGAIN; of them injected
	EEXIST, Gone                       uint64
	Removes, Unmaps, Remaps, Self      uint64 // events mirrored; REMOVE events of the server's own zaps
}

// Report is the outcome of Run.
type Report struct {
	Clients, Threads, Pages int
	Seed                    uint64
	Generations             int // client processes run, over all clients
	ClientResult
	Server      ServerStats
	HandlerLogs uint64   // lines the handlers logged (uffd.Config.Logf): anomalies, not violations
	Failures    []string // clients that crashed, hung or gave no result
}

// Violations counts every violation, a failed client as one. A poisoned
// page is one too: the model allows every access the clients make, so a
// denied one means the space and the memory disagreed.
func (r *Report) Violations() uint64 {
	return r.ClientResult.Violations() + uint64(len(r.Failures)) + r.Server.Poisons
}

// WriteTo prints the counters; the last line sums up.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var n int64
	p := func(format string, args ...any) {
		k, _ := fmt.Fprintf(w, format, args...)
		n += int64(k)
	}
	c, s := &r.ClientResult, &r.Server
	p("clients: %d processes x %d threads, %d pages each, seed %d; %d client processes run in all\n", r.Clients, r.Threads, r.Pages, r.Seed, r.Generations)
	p("clients: %d reads, %d writes (%d to read-only pages), %d balloon drops, %d server advises, %d server protects, %d mremaps (%d refused), %d hot-plugs, %d server unmap+map, %d requests, %d Memory calls answered\n",
		c.Reads, c.Writes, c.ROWrites, c.Balloons, c.ServerAdvises, c.ServerProtects, c.Remaps, c.RemapsRefused, c.Hotplugs, c.ServerUnmaps, c.Requests, c.MemoryCalls)
	p("checks: %d lost, %d stale, %d torn, %d write faults, %d read-only stores taken, %d errors, %d stuck threads\n",
		c.Lost, c.Stale, c.Torn, c.WriteFaults, c.ROWritesTaken, c.Errors, c.Stuck)
	p("server: %d faults, %d copies, %d zero pages, %d poisoned, %d EEXIST, %d gone; events %d REMOVE, %d UNMAP, %d REMAP mirrored, %d REMOVE of its own zaps\n",
		s.Faults, s.Copies, s.Zeropages, s.Poisons, s.EEXIST, s.Gone, s.Removes, s.Unmaps, s.Remaps, s.Self)
	if r.HandlerLogs != 0 {
		p("server: the handlers logged %d lines (see the log)\n", r.HandlerLogs)
	}
	for _, f := range r.Failures {
		p("failure: %s\n", f)
	}
	p("uffd torture: %d pages checked (%d exact, %d racing a change), %d violations, EAGAIN %d injected / %d real, %d events mirrored\n",
		c.Checked, c.Strict, c.Racy, r.Violations(), s.Injected, s.EAGAIN-min(s.EAGAIN, s.Injected), s.Removes+s.Unmaps+s.Remaps)
	return n, nil
}
