//go:build !linux

package bench

import "errors"

var errUffd = errors.New("the uffd engines need Linux's userfaultfd")

func openUffdPerArea(*Config) (target, error) { return nil, errUffd }
func openUffdWhole(*Config) (target, error)   { return nil, errUffd }
func openUffdMinimal(*Config) (target, error) { return nil, errUffd }

// EnvBenchClient makes a process run BenchClientMain.
const EnvBenchClient = "VMSPACE_BENCH_UFFD_CLIENT"

// BenchClientMain is Linux only.
func BenchClientMain() error { return errUffd }
