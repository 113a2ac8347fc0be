package torture

import (
	"fmt"
	"runtime"
	"time"
)

// watchdog starts the goroutine that watches the heartbeats. A goroutine
// whose beat has not moved for Config.Stall is stuck: the watchdog writes
// which ones and every goroutine's stack to the log and closes
// rs.stalled. It returns a function that stops the watchdog.
func (rs *runState) watchdog() (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		type seen struct {
			n    uint64
			when time.Time
		}
		last := map[*heartbeat]seen{}
		tick := time.NewTicker(max(rs.cfg.Stall/8, 10*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				var stuck []string
				next := map[*heartbeat]seen{}
				for _, h := range rs.liveBeats() {
					n := h.n.Load()
					s, ok := last[h]
					if !ok || s.n != n {
						s = seen{n, now}
					} else if now.Sub(s.when) >= rs.cfg.Stall {
						stuck = append(stuck, h.name)
					}
					next[h] = s
				}
				last = next
				if len(stuck) > 0 {
					fmt.Fprintf(rs.cfg.Log, "torture: DEADLOCK? no progress for %v in: %v\n", rs.cfg.Stall, stuck)
					fmt.Fprintf(rs.cfg.Log, "%s\n", allStacks())
					close(rs.stalled)
					return
				}
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// allStacks returns the stacks of every goroutine.
func allStacks() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}
