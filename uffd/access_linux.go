package uffd

// The handler as the space's Accessor (internal/mm): Space.ReadAt and
// Space.WriteAt on window addresses go to the window's memory, the store of
// every installed page, through the same path as Handler.ReadAt/WriteAt. A
// page not yet installed is faulted in on the way (process_vm_readv/writev
// take the fault; this handler serves it from the space's own page, the
// image or zeros), so the space's pre-install store and the host memory
// never both speak for a page that has been touched.

// Covers reports how many bytes from space address addr lie in one window.
func (o *observer) Covers(addr uint64, n int) int {
	h := (*Handler)(o)
	if !h.spaceAccess {
		// Whose memory the window is is unknown (see Config.Pid).
		return 0
	}
	w := h.spaceWindow(addr)
	if w == nil {
		return 0
	}
	return int(min(uint64(n), w.Base+w.Size-addr))
}

// AccessAt reads or writes p at space address addr of a window.
func (o *observer) AccessAt(p []byte, addr uint64, write bool) (int, error) {
	return (*Handler)(o).access(p, addr, write)
}
