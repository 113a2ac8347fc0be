package mm

// HookPoint names a place in the fault path or in a write session where a
// test can stop a goroutine to force an interleaving.
type HookPoint int

const (
	// HookAfterLookup: a fault found an area in the tree and holds no
	// lock yet (between mas_walk and vma_start_read).
	HookAfterLookup HookPoint = iota
	// HookAfterEarlyCheck: the reader passed the early stamp check and
	// has not yet incremented the lock word.
	HookAfterEarlyCheck
	// HookAfterInc: the reader's increment succeeded; validation
	// (same space, stamp, range) has not run.
	HookAfterInc
	// HookReadLocked: a fault holds the area read lock, validated.
	HookReadLocked
	// HookWriteFault: a write fault loaded a present page from its slot
	// and has not yet decided whether to reuse or copy it.
	HookWriteFault
	// HookFrameLoaded: a fault loaded an ordinary frame from its slot and
	// is about to take a reference on it to touch its bytes.
	HookFrameLoaded
	// HookBeforeAccess: a fault made its page present (or chose to
	// reuse it) and has not yet read or written it; it still holds the
	// area read lock (or the space read lock).
	HookBeforeAccess
	// HookBeforeInstall: a write fault copied a page it found shared and
	// has not yet taken the page-table lock to install the copy (between
	// the copy of wp_page_copy and its pte_same check).
	HookBeforeInstall
	// HookFilePage: a read fault on a private file area got its page
	// from the page cache (inside the file's size as it was then) and
	// has not installed it.
	HookFilePage
	// HookBeforeDetach: a writer write-locked an area it removes and has
	// not yet detached it.
	HookBeforeDetach
	// HookBeforeCommit: a writer built the new tree and has not
	// published it.
	HookBeforeCommit
	// HookAfterCommit: a writer published the new tree; freed areas are
	// freed, the session has not ended.
	HookAfterCommit
	// HookAfterHint: a fault took an area from the lookup hint
	// (lookup.go) and holds no lock yet: the hint's counterpart of
	// HookAfterLookup.
	HookAfterHint
	numHookPoints
)

// Hooks are test hooks. A space's hooks are set before it is shared and
// never change, so reading them needs no lock.
type Hooks struct {
	// At runs at every HookPoint with the area concerned (nil for
	// session points).
	At func(p HookPoint, a *Area)
	// Alloc, if it returns an area, is used instead of the recycling
	// pool (only when recycling is on), so tests can recycle a chosen area.
	Alloc func() *Area
	// Free runs when an area is freed.
	Free func(a *Area)
	// Keep, if it returns true for a freed area, keeps that area out of
	// the recycling pool so that a test can hand it out again through
	// Alloc (an area must never be in the pool and in use at once).
	Keep func(a *Area) bool
	// TreeAllocFail is the tree's node-allocation failpoint: return true
	// to make that allocation fail with ENOMEM.
	TreeAllocFail func() bool
	// Move runs when a Remap moves the pages of [from, from+length) to
	// [to, to+length), just before it moves them, in the goroutine that
	// called Remap, with the space write lock held and every area over
	// both ranges write-locked or detached (checkers may read the pages).
	Move func(from, to, length uint64)
	// Child are the hooks Fork gives the child space (nil: none).
	Child *Hooks
}

func (s *Space) hook(p HookPoint, a *Area) {
	if h := s.hooks; h != nil && h.At != nil {
		h.At(p, a)
	}
}
