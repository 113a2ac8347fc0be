// Package torture runs random operations on vmspace address spaces from
// many goroutines at once and checks, while they run and after, that
// nothing broke: the structural invariants (mm.Space.CheckInvariants), the
// contents of memory as far as a sequential shadow allows, the errors each
// call may return, and progress (a watchdog reports a stall as a deadlock
// and dumps every goroutine's stack).
//
// # Phases
//
// A run is a sequence of phases. Each phase builds fresh spaces in one of
// four configurations (per-area or whole-space locking, with area recycling
// on or off), runs the workers on them for a while, stops them, checks the
// quiesced spaces strictly (CheckInvariants(true) and a full content scan),
// closes them and checks that a closed space refuses calls. The
// configurations are taken in turn, and every second round of four phases
// also allows the operations that move memory between addresses (Remap),
// which weaken the content check (see shadow.go). A run has at least
// eight phases, so it covers every configuration with and without them.
//
// Two spaces share each phase, so a freed area recycled through the pool
// shared by all spaces can end up in the other space while a stale
// lockless reader still holds a pointer to it: the same-space check of the
// fault path is exercised.
//
// # Contents
//
// Worker w owns byte w of every page (its slot) and is the only one that
// writes there; every other byte of every page stays 0 for ever. So a read
// of a foreign byte must give 0, and w's read of its own slot must give the
// last value w wrote there, or 0 only if an operation that can discard the
// page (unmap, map-fixed, MADV_DONTNEED, MADV_PAGEOUT, remap) was in flight
// when w wrote or has started since; after w has once seen 0 there, 0 until
// it writes again. A fork's child must hold, byte for byte, what the parent
// held at the moment of the fork (recorded by a hook the child runs at the
// end of its own session, while the parent is still write-locked); a page
// that a remap moved must hold at its target what the source held at the
// move (recorded by the Move hook), in every slot not written or discarded
// since. See shadow.go and ops.go.
//
// # Operations
//
// Each kind of operation is one function and one line in the table in
// ops.go. Operations the library does not implement yet (an ENOSYS answer,
// or a method the space does not have) are counted as unsupported and
// switched off for the rest of the phase.
package torture
