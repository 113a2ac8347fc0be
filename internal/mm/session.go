package mm

import (
	"sync/atomic"

	"github.com/vmspace/vmspace/internal/tree"
)

// entry is what the tree stores per area: the area, and a copy of its
// flags, page offset and object as of the tree's publication so that a
// listing taken from a snapshot is consistent without locking any area.
type entry struct {
	a     *Area
	flags Flags
	pgoff uint64
	obj   *shmObject
}

// entryCell is how a tree leaf holds an entry (tree.Cell): atomics,
// because a lockless lookup may load a cell while the tree's writer
// rewrites the recycled leaf around it, and throws such loads away.
type entryCell struct {
	a     atomic.Pointer[Area]
	flags atomic.Uint64
	pgoff atomic.Uint64
	obj   atomic.Pointer[shmObject]
}

func (c *entryCell) Load() entry {
	return entry{c.a.Load(), Flags(c.flags.Load()), c.pgoff.Load(), c.obj.Load()}
}

// Store skips the words that already hold the value: a locked store costs
// several times a load, and a refilled leaf often held the same entries.
func (c *entryCell) Store(e entry) {
	if c.a.Load() != e.a {
		c.a.Store(e.a)
	}
	if c.flags.Load() != uint64(e.flags) {
		c.flags.Store(uint64(e.flags))
	}
	if c.pgoff.Load() != e.pgoff {
		c.pgoff.Store(e.pgoff)
	}
	if c.obj.Load() != e.obj {
		c.obj.Store(e.obj)
	}
}

// sessState is an area's bookkeeping within one write session.
type sessState uint8

const (
	sessSaved    sessState = 1 << iota // fields saved for undo
	sessFresh                          // allocated in this session
	sessDetached                       // detached in this session
	sessDropped                        // fresh and then removed again
)

// savedFields is an area's state before a session modified it.
type savedFields struct {
	a          *Area
	start, end uint64
	pgoff      uint64
	flags      Flags
	anon       *anonVMA
	anonChain  int32
	shm        *shmObject
}

// session is one write session: the space write lock is held from begin
// to finish. Changes go to a tree transaction that readers cannot see;
// areas that change are write-locked first, areas that go are detached
// after their readers drain; commit publishes the tree, attaches new areas
// and frees removed ones; abort puts everything back as it was.
type session struct {
	s        *Space
	txn      *tree.Txn[entry, entryCell, *entryCell]
	saved    []savedFields
	fresh    []*Area
	detached []*Area
	pageOps  []pageOp // page-table work done at commit, in order (pageops.go)
	gone     []*Area  // unmapRange's scratch buffer, kept for reuse

	oldPieces []protPiece // protectionChangesLocked's scratch buffer, kept for reuse
}

// begin takes the space write lock and opens a session, after the
// observer's Order if it is an Orderer (observer.go).
func (s *Space) begin() *session {
	if b := s.orderer.Load(); b != nil {
		b.o.Order()
	}
	return s.beginUnordered()
}

// beginUnordered is begin without the Orderer's wait: for the session of
// a fork's child, which has no observer yet.
func (s *Space) beginUnordered() *session {
	s.lock.Lock()
	x := &s.sessBuf
	x.s = s
	x.txn = s.tree.Txn()
	if h := s.hooks; h != nil && h.TreeAllocFail != nil {
		x.txn.SetAllocFail(h.TreeAllocFail)
	}
	return x
}

// view is the session's current layout, changes included.
func (x *session) view() tree.Snapshot[entry, entryCell, *entryCell] { return x.txn.Snapshot() }

// lockArea write-locks a (vma_start_write).
func (x *session) lockArea(a *Area) { a.lock.StartWrite(&x.s.lock) }

// newArea allocates a write-locked, detached area with state st.
func (x *session) newArea(st areaState) *Area {
	a := x.s.allocArea()
	a.lock.StartWrite(&x.s.lock) // stamp before attach (vma_start_write on a new VMA)
	st.apply(a)
	a.sess = sessFresh
	x.fresh = append(x.fresh, a)
	return a
}

// modify saves a's fields for undo; call before changing them.
// Precondition: a is write-locked in this session.
func (x *session) modify(a *Area) {
	if a.sess&(sessSaved|sessFresh) != 0 {
		return
	}
	a.sess |= sessSaved
	x.saved = append(x.saved, savedFields{a, a.start, a.end, a.pgoff, a.flags, a.anon.Load(), a.anonChain, a.shm})
}

// remove takes a out of the layout: write-locked, then detached once its
// readers have drained (vma_mark_detached). A fresh area was never attached
// and is only dropped.
func (x *session) remove(a *Area) {
	if a.sess&sessFresh != 0 {
		a.sess |= sessDropped
		return
	}
	x.lockArea(a)
	x.s.hook(HookBeforeDetach, a)
	a.lock.Detach(&x.s.lock)
	a.sess |= sessDetached
	x.detached = append(x.detached, a)
}

// store replaces the tree's items starting in [lo, hi) with areas (sorted,
// inside [lo, hi)). It can fail with ENOMEM (tree node allocation).
func (x *session) store(lo, hi uint64, areas ...*Area) error {
	var buf [4]tree.Item[entry]
	items := buf[:0]
	for _, a := range areas {
		items = append(items, tree.Item[entry]{Start: a.start, End: a.end, Val: entry{a, a.flags, a.pgoff, a.shm}})
	}
	return x.txn.Replace(lo, hi, items)
}

// clearPages schedules the pages of [start, end) for removal at commit.
func (x *session) clearPages(start, end uint64) {
	x.pageOps = append(x.pageOps, pageOp{kind: opClear, start: start, end: end})
}

// commit publishes the session's changes. The space lock stays held: the
// caller ends the session with end.
func (x *session) commit() {
	s := x.s
	for _, a := range x.fresh {
		if a.sess&sessDropped == 0 {
			a.lock.Attach(&s.lock) // vma_mark_attached: release; fields visible
		}
	}
	s.hook(HookBeforeCommit, nil)
	x.txn.Commit()
	// Point of no return. Removed areas are detached and out of the
	// published tree; they stay stamped until the session ends.
	x.applyPageOps()
	if s.observer != nil {
		x.notifyObserverLocked()
	}
	// The dropped fresh areas go first in x.fresh, so that forget can
	// clear every mark before anything is freed.
	ndropped := 0
	for i, a := range x.fresh {
		if a.sess&sessDropped != 0 {
			x.fresh[ndropped], x.fresh[i] = a, x.fresh[ndropped]
			ndropped++
		}
	}
	x.forget()
	for _, a := range x.detached {
		s.freeArea(a)
	}
	for _, a := range x.fresh[:ndropped] {
		s.freeArea(a)
	}
	s.nareas = x.txn.Snapshot().Len()
	s.hook(HookAfterCommit, nil)
	x.reset()
}

// abort undoes the session: saved fields are restored, detached areas are
// attached again (they stay stamped until the session ends, so readers
// still fall back), fresh areas are freed, the tree is left as published.
func (x *session) abort() {
	s := x.s
	x.txn.Abort()
	for i := len(x.saved) - 1; i >= 0; i-- {
		f := &x.saved[i]
		a := f.a
		a.start, a.end, a.pgoff, a.flags, a.anonChain, a.shm = f.start, f.end, f.pgoff, f.flags, f.anonChain, f.shm
		a.anon.Store(f.anon)
	}
	for _, a := range x.detached {
		a.lock.Attach(&s.lock)
	}
	x.forget()
	for _, a := range x.fresh {
		s.freeArea(a)
	}
	x.reset()
}

// forget clears the session marks of every area the session touched. It
// runs before any of them is freed: a freed area may at once be allocated
// by another space's session (the pool is shared), and clearing its marks
// afterwards would race with that session and wipe its sessFresh mark,
// making it detach a never-attached area and wait for ever.
func (x *session) forget() {
	for _, f := range x.saved {
		f.a.sess = 0
	}
	for _, a := range x.detached {
		a.sess = 0
	}
	for _, a := range x.fresh {
		a.sess = 0
	}
}

func (x *session) reset() {
	clear(x.saved)
	clear(x.fresh)
	clear(x.detached)
	x.saved, x.fresh, x.detached, x.pageOps = x.saved[:0], x.fresh[:0], x.detached[:0], x.pageOps[:0]
	x.txn = nil
}

// end closes the session: one increment of the space sequence releases
// every area write lock taken in it.
func (x *session) end() { x.s.lock.Unlock() }

// areaState is an area's range and attributes, as planned before they are
// written to an area.
type areaState struct {
	start, end uint64
	pgoff      uint64
	flags      Flags
	anon       *anonVMA
	anonChain  int32
	shm        *shmObject
}

func stateOf(a *Area) areaState {
	return areaState{a.start, a.end, a.pgoff, a.flags, a.anon.Load(), a.anonChain, a.shm}
}

func (st areaState) apply(a *Area) {
	a.start, a.end, a.pgoff, a.flags, a.anonChain, a.shm = st.start, st.end, st.pgoff, st.flags, st.anonChain, st.shm
	a.anon.Store(st.anon)
}

// set changes a to st, saving a's fields first.
// Precondition: a write-locked in this session.
func (x *session) set(a *Area, st areaState) {
	x.modify(a)
	st.apply(a)
}

// treeItem is the tree's item type, named for tests.
type treeItem = tree.Item[entry]
