package kernel

import "errors"

// RegionSize is the size of the region scripts address: offsets in
// [0, RegionSize) lie in it, and maps shows the areas that overlap it.
const RegionSize = 1 << 30

// ErrOutsideArena is returned, instead of making the call, for a call that
// could change or read memory of this process outside the engine's arena
// (the region and a free margin of RegionSize on either side). Run stops
// on it: the script cannot be answered in-process.
var ErrOutsideArena = errors.New("kernel: call reaches memory outside the engine's arena")

// ErrUnsupported is returned by New where the kernel engine cannot run.
var ErrUnsupported = errors.New("kernel: engine needs Linux on amd64 or arm64 with 4 KiB pages")
