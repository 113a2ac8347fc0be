package torture

import (
	"testing"

	"go.uber.org/goleak"
)

// A run must leave no goroutine behind: workers, checker and watchdog all
// stop when Run returns (a stall is the exception, and fails its test).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
