//go:build linux && (amd64 || arm64) && !race

package kernel

const raceBuild = false
