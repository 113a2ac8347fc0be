package uffdtorture

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(EnvClient); spec != "" {
		if err := ClientMain(spec, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "uffd torture client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// EnvLong, set to a duration, runs TestTorture that long (the CI share is
// a few seconds).
const EnvLong = "VMSPACE_UFFD_TORTURE_LONG"

// TestTorture runs real faults from several client processes, each with
// several threads, against one server, with drops from both sides and
// injected EAGAIN, and requires no violation. Mutations it caught are in
// docs/mutations.md.
func TestTorture(t *testing.T) {
	cfg := Config{Duration: 3 * time.Second, Generation: time.Second, Clients: 3, Threads: 4, Pages: 1024, Seed: 1, Stall: 20 * time.Second,
		Exe: os.Args[0], Args: []string{"-test.run=^$"}}
	if v := os.Getenv(EnvLong); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvLong, v, err)
		}
		cfg.Duration, cfg.Generation, cfg.Clients, cfg.Pages, cfg.Seed = d, 0, 3, 2048, uint64(time.Now().UnixNano())
	}
	if v := os.Getenv("VMSPACE_UFFD_TORTURE_SEED"); v != "" {
		cfg.Seed, _ = strconv.ParseUint(v, 10, 64)
	}
	var log bytes.Buffer
	cfg.Log = &log
	r, err := Run(cfg)
	if errors.Is(err, ErrNotPermitted) {
		t.Skipf("%v: needs vm.unprivileged_userfaultfd=1, CAP_SYS_PTRACE, or kernel support", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.WriteTo(&out)
	t.Log("\n" + out.String())
	if r.Violations() != 0 {
		t.Fatalf("%d violations; log:\n%s", r.Violations(), log.String())
	}
	// The run must have done what it is for.
	switch {
	case r.Strict == 0 || r.Racy == 0:
		t.Errorf("no exact or no racing check (%d, %d)", r.Strict, r.Racy)
	case r.Server.Injected == 0:
		t.Error("no EAGAIN injected")
	case r.Server.Removes == 0 || r.Server.Unmaps == 0 || r.Server.Remaps == 0:
		t.Errorf("events mirrored: %d REMOVE, %d UNMAP, %d REMAP; want each", r.Server.Removes, r.Server.Unmaps, r.Server.Remaps)
	case r.MemoryCalls == 0 || r.Server.Self == 0:
		t.Errorf("%d Memory calls, %d own REMOVE events: the server's changes did not reach the client", r.MemoryCalls, r.Server.Self)
	}
}
