//go:build !vmspace_lockcheck

package lockcheck

// Enabled reports whether the validator is compiled in.
const Enabled = false

func SpaceWrite(l any)        {}
func SpaceWriteRelease(l any) {}
func SpaceRead(l any)         {}
func SpaceTryRead(l any)      {}
func SpaceReadRelease(l any)  {}
func AreaRead(a, space any)   {}
func AreaReadRelease(a any)   {}
func AreaWrite(a, space any)  {}
func ExcludeBegin(a any)      {}
func ExcludeEnd(a any)        {}
func ReaderIn(a any)          {}
func ReaderOut(a any)         {}
func AssertNoneHeld()         {}
