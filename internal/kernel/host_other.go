//go:build !linux || !(amd64 || arm64)

package kernel

// ProbeHost fails with ErrUnsupported on this platform.
func ProbeHost() (Host, error) { return Host{}, ErrUnsupported }
