package torture

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The watchdog reports a goroutine whose heartbeat stands still, with
// every goroutine's stack, and unblocks await.
func TestWatchdogReportsStall(t *testing.T) {
	var log bytes.Buffer
	c, err := Config{Stall: 50 * time.Millisecond, Log: &log}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	rs := &runState{cfg: c, stalled: make(chan struct{}), counts: make([]opCount, len(ops))}
	stop := rs.watchdog()
	defer stop()
	release := make(chan struct{})
	err = rs.await("stuck goroutine", func(*heartbeat) { <-release })
	close(release)
	if err != ErrStall {
		t.Fatalf("await returned %v, want ErrStall", err)
	}
	if !strings.Contains(log.String(), "stuck goroutine") || !strings.Contains(log.String(), "goroutine ") {
		t.Fatalf("log lacks the stuck goroutine's name or the stacks:\n%s", log.String())
	}
}
