package frames

// Alloc returns a zero-filled frame mapped once, with refs extra
// references for the caller (0 if it will not touch the frame after
// publishing it). It fails only when the arena cannot grow.
func (a *Arena) Alloc(refs uint32) (Frame, error) {
	f, err := a.take()
	if err != nil {
		return None, err
	}
	// Nobody else can reach f until it is published: plain stores.
	clear(a.raw(f))
	a.meta(f).rc.Store(oneMap | oneRef + uint64(refs))
	return f, nil
}

// AllocCopy returns a new frame, mapped once with refs extra references,
// holding src's contents (wp_page_copy). Precondition: the caller holds a
// mapping or a reference of src (or src is Zero).
func (a *Arena) AllocCopy(src Frame, refs uint32) (Frame, error) {
	f, err := a.take()
	if err != nil {
		return None, err
	}
	// src may be written while it is copied (a writer that decided
	// before the caller that it may reuse it): load each word
	// atomically; the new frame is the caller's alone.
	s := a.words(src)
	d := a.raw(f)
	for i := range d {
		d[i] = s[i].Load()
	}
	a.meta(f).rc.Store(oneMap | oneRef + uint64(refs))
	return f, nil
}

// Discard frees a frame from Alloc that was never published: its mapping
// and the caller's refs references.
func (a *Arena) Discard(f Frame, refs uint32) {
	for ; refs > 0; refs-- {
		a.meta(f).rc.Add(^uint64(0))
	}
	a.Unmap(f)
}
