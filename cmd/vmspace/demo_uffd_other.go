//go:build !linux

package main

import (
	"errors"
	"time"
)

func clientMain() bool { return benchClientMain() }

func runUffdDemo(time.Duration, int, int, string) error {
	return errors.New("--uffd: userfaultfd is Linux only")
}
