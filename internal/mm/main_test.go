package mm

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests start faulting and writing goroutines (concurrency, interleave,
// linearize, torture-like tests); none may outlive the test binary's run:
// a goroutine left blocked on a lock is a deadlock that a test missed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
