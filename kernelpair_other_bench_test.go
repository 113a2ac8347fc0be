//go:build !linux

package vmspace_test

import "testing"

// kernelMapUnmap needs Linux: there is no kernel side elsewhere.
func kernelMapUnmap(b *testing.B, kind string, n int) { b.Skip("the kernel pair is Linux only") }
