//go:build linux && (amd64 || arm64) && race

package kernel

// raceBuild: a -race binary links glibc, whose malloc shares the break.
const raceBuild = true
