// Package uffd serves the page faults of real memory from a vmspace Space,
// through Linux's userfaultfd. On other systems it builds, and New returns
// ErrUnsupported.
//
// A Handler attaches one userfaultfd, registered (MISSING mode, and WP mode
// where the kernel offers it) over one or more ranges of a process's
// memory, to a Space. Each range is a window (Region): host address h
// shows space address Base+(h-Host). The space is
// the authority for what exists there: which areas, with which protection,
// and what a page holds before it is installed.
//
// # Faults
//
// A worker serves a fault under the read lock of the one area covering the
// address (Space.LockArea: the per-area lock, or the space lock in
// whole-space mode), so a layout change elsewhere does not stop it and a
// change of this area waits for it. It checks the access against the area
// and installs the page with UFFDIO_COPY or UFFDIO_ZEROPAGE. The page holds,
// in this order: the space's own page, if one exists (written through the
// space before the handler attached, or by a handler that does not know
// whose memory the window is; otherwise Space.WriteAt goes to the
// window's memory, see below), else the Region's Source at the page's
// offset if the page was never dropped, else zeros.
//
// A denied access (no area, a guard region, a protection that forbids it,
// a closed space) is answered with UFFDIO_POISON: the faulting thread gets
// SIGBUS. Linux would send SIGSEGV; userfaultfd has no way to raise it for
// a missing page. Where the handler has a Memory (Local, or one that asks
// the client) the window's host protection is kept equal to the area's
// (mprotect in the same write session, PROT_NONE where no area is), so the
// kernel itself raises SIGSEGV (SEGV_ACCERR) and the handler never sees
// those accesses; a refused fault that reaches it anyway was raised before
// the change, and is woken rather than poisoned: its retry meets the host
// protection, and a stale fault message (its thread already served by
// another fill) leaves no poison for a later Map to inherit. A guard
// region is still poisoned. The same holds for a cooperative client in
// another process (Memory Remote, below).
//
// A window in another process with no Memory cannot be mprotected. If the
// client registered it in WP mode, a page of a read-only area is
// write-protected instead (installed with UFFDIO_COPY_MODE_WP, or
// UFFDIO_WRITEPROTECT when a Protect removes write): a store to it is a
// write-protect fault, served under the area read lock. If the area
// allows the write by then, the page is un-protected and the thread
// woken; if not, the thread is left waiting, because a present page
// cannot be poisoned and userfaultfd cannot raise SIGSEGV: the store
// completes when a Protect gives write back (lifting the protection
// wakes it) or when the handler closes (Close lifts every protection).
// The page's contents never change meanwhile (wp_linux.go). Without WP
// mode, a present page of a read-only area stays writable for the client.
//
// # One truth for contents
//
// A page has exactly one store at any time: before its first install, the
// space (its own page if one was written, else the image or zero); from
// its install on, the host memory, and nothing else. The handler never
// copies a page back: after install the space's copy (if
// any) is dead and the image no longer speaks for the page (its bit is
// cleared), so there is no second copy to disagree. Dropping the page (the
// client's MADV_DONTNEED arriving as a REMOVE event, or the space's own
// Advise/Unmap applied through a Memory, Local or Remote) ends the host
// copy, and the page starts again from zeros, as anonymous memory does.
//
// Reads and writes through the space agree with the process's own loads
// and stores at all times: the handler is the space's Accessor (internal
// mm), so Space.ReadAt and Space.WriteAt on window addresses, like
// Handler.ReadAt and Handler.WriteAt, check the access against the area
// and then read or write the window's memory itself
// (process_vm_readv/writev). A page not yet installed is faulted in
// through the handler on the way, so it comes from the same store a load
// would see, and from then on the host memory is its only store. Bytes
// written through the space before a page's first touch therefore land on
// top of the image's bytes for that page, as a store by the process would.
// Space.ReadAt and WriteAt hold no lock while the accessor runs, so they
// may take faults this handler serves (see access_linux.go); like any
// access from this process they are system calls, not CPU traps. The
// space goes to the window's memory only where the handler knows whose it
// is (Config.Pid set, or Memory Local): with neither, reading "this
// process" at another process's addresses would read the wrong memory,
// so Space.ReadAt and WriteAt keep to the space's pre-install store.
// process_vm_readv/writev need ptrace access to the client.
//
// # Layout changes
//
// The handler installs itself as the space's observer (internal mm.Observer):
// every write session of the space (Map, Unmap, Protect, Advise, Remap)
// tells it, at commit and with the areas concerned write-locked, which
// ranges were zapped, moved and re-protected. The handler then forgets the
// image for zapped pages, moves installed pages with UFFDIO_MOVE (itself
// in its own process, through a Mover Memory in another: see below),
// installs an untouched image page at its new address (the image does not
// follow an address), and asks its Memory to zap and mprotect. Because
// no fault on those areas can be served until the session ends, no stale
// page is copied in after a drop.
//
// The observer is told only what the session changed: the ranges it
// zapped or moved, and the ranges whose protection it changed or that had
// no area before it. The untouched parts of areas it merged, split or
// extended are left alone, so a session never reaches real memory outside
// the range it was asked to change.
//
// The client's own changes arrive as REMOVE (MADV_DONTNEED), UNMAP
// (munmap, mmap over the range) and REMAP (mremap) events and are mirrored
// into the space (Advise DontNeed, Unmap, Remap) by an applier goroutine,
// in the order read.
//
// # Ordering the two sides
//
// Both the space's user and the client change the layout. The handler
// orders them so that the space and the memory agree:
//
//   - Every write session of the space (other than the applier's mirrors)
//     starts only after the client's events read so far are mirrored
//     (the handler is the space's mm Orderer: Order). A client's munmap,
//     mremap or madvise returns only once its event has been read, so a
//     change the client made before it asked the server for something
//     (or before anything else that orders the two) is in the space before
//     the server's session looks at the layout: the session's own Memory
//     calls go to the memory the space describes, and no late mirror undoes
//     it (a Map of a range the client unmapped and mapped again). Sync
//     waits for the same thing without a session.
//   - A server change and a client munmap or mremap of the same range
//     that run at the same time, with nothing ordering them, race as an
//     mprotect and a munmap of one range from two threads do, with one
//     difference: the space applies the server's change to the layout
//     before the client's, while the memory may have had the client's
//     first. For that range the two can then disagree (a protection, or
//     a page the server's drop missed) until the next change of the range
//     from either side. Other ranges are never affected: the observer
//     reaches only what the session changed. A client that wants the
//     server's changes and its own on one range to be well defined orders
//     them (the torture's client holds a chunk's lock across both).
//
// # What reaches memory in another process
//
// Linux has no remote MADV_DONTNEED (process_madvise refuses it) and no
// remote mprotect, so for a window in another process it depends on the
// client:
//
//   - Moves: UFFDIO_MOVE moves pages only within the calling process's
//     own memory (the kernel refuses cross-mm moves with EINVAL), so the
//     client does them: a cooperative client on request (below); for
//     another client, a page never touched still gets its image page
//     installed at its new place, but installed pages stay behind (the
//     new place reads zeros; logged once). Measured: TestRemoteCooperative
//     and TestRemoteMoveWithoutMemory.
//   - A cooperative client (our uffdclient; the handshake carries a second
//     descriptor, its end of a memory channel: ReadHandshakeMemory,
//     WriteHandshakeMemory) gets a Remote as Memory: every zap, move and
//     protection change of the space is sent to it and done there
//     (MADV_DONTNEED, UFFDIO_MOVE on its own descriptor, mprotect:
//     uffd.ServeMemory) while the write session
//     waits for the answer, at most a deadline; on a timeout the Remote
//     reports it once (the server logs one line and drops the client) and
//     fails every later request at once, so the session still ends.
//   - A client that does not cooperate (Firecracker) gets no Memory: the
//     space's Unmap and Advise drop only what the handler holds (the
//     image's claim, the space's own pages); pages the client already has
//     stay until the client drops them itself (after an Unmap their
//     stores wait, write-protected, until an area is mapped there again);
//     Protect reaches them only as write protection (above), never as
//     SIGSEGV.
//
// Either way the handler keeps a bit per page that says whether the
// client's memory may hold it (set before each fill and, at New, for what
// the client's pagemap shows; cleared when a REMOVE, UNMAP or REMAP says
// the page went, or a Memory zapped it), and a write session makes no
// UFFDIO_WRITEPROTECT call for a range where the client holds nothing: a
// layout change of memory the client never touched costs it nothing
// (pagebits_linux.go).
//
// The echo of a remote zap: the client's MADV_DONTNEED raises a REMOVE
// event and does not return until the reader has read it, while the
// space's write session is still open. The reader takes no space or area
// lock, so it reads it; the observer registered the range as its own
// beforehand, so the reader counts it (Stats.SelfEvents) and drops it:
// the applier never mirrors it, so nothing is applied twice and nothing
// waits on the session. The client must serve its memory channel from a
// goroutine that takes no lock its faulting threads may hold (their
// faults wait for the session, the session for the answer). In a Go
// client the runtime's stop-the-world is such a lock for a fault taken in
// code Go cannot preempt asynchronously (memmove and other assembly): the
// world waits for the faulting thread, so the answering goroutine never
// runs. The torture's and the demo's clients run with the collector off.
//
// # The kernel's protocol rules
//
//   - Every message is read as soon as it arrives by one reader goroutine
//     that takes no space lock, so a thread blocked in an event (madvise,
//     munmap, mremap wait until their event is read) never waits on a
//     fault being served.
//   - Events before faults: a fault is served only after every event read
//     before it has been mirrored into the space.
//   - EAGAIN from a fill (an event not yet read, mmap_changing): the worker
//     waits until the events read so far are applied and retries.
//     Config.InjectEAGAIN makes fills fail so on purpose (tests, torture).
//   - EEXIST: the page is already there (another fault, or the client);
//     the waiting threads are woken. ENOENT/ESRCH: the range or the process
//     went away; the fault is dropped.
//   - A partial copy is resumed from where it stopped.
//   - A fault in a range the client removed is served after the REMOVE is
//     mirrored, so it is zero-filled.
//   - A fault read before a queued event (UNMAP, REMAP, a REMOVE not
//     mirrored at once) is woken, not filled: its thread may have been
//     served by another fill and gone on, and the page may have been
//     dropped, or the address become another mapping, since; once the
//     event is read the kernel no longer refuses a fill, which would put
//     the old contents back. A thread still waiting retries and faults
//     again. Fills hold readMu shared from that check to the ioctl, so an
//     event raised meanwhile is still unread and the kernel refuses the
//     fill with EAGAIN.
//
// # Torture
//
// `vmspace torture --uffd` (internal/uffdtorture) runs the handler against
// real faults for as long as asked: the threads of several client
// processes read and write self-checking pages while their balloons,
// mremaps and hot-plugs and the server's Advise, Protect and Unmap+Map
// (through a Memory that asks the client) race them, and one fill in N
// fails with an injected EAGAIN; every read is checked against a model
// of what the page must hold, a stuck fault is reported by a watchdog.
// It found five bugs, fixed: Sync did not wait for the reader's batch (a
// plug's Map undone by a late UNMAP mirror), any session over the range
// being mirrored counted as the mirror (a concurrent server zap skipped),
// a stale fault message was poisoned or filled after a drop or a layout
// change (SIGBUS, or an old image page after a drop or on a range mapped
// again), and a second
// move of an untouched image page lost it. Two more came from letting the
// server's changes race the client's munmap and mremap: a mirrored REMAP
// installed an untouched image page at its new place even if the client
// had dropped that page after its mremap (the image page now follows the
// move as an override, read at the first fault, which the drop's mirror
// clears: TestDropAfterRemapBeforeMirror); and the observer re-protected
// the whole areas a session merged or split, reaching memory the client
// had just unmapped, moved or mapped again (a read that faulted, a store
// to a read-only page that landed: 3 and 13 violations in 20 s runs; now
// only changed ranges are re-protected, mm's
// TestObserverProtectsOnlyWhatChanged). Since the handler orders the
// space's sessions after the client's events (Order), the torture's
// server no longer calls Sync and its client no longer holds the server's
// changes off while it munmaps or mremaps.
//
// # The Go trap
//
// A thread that faults on registered memory is in a CPU trap, not in a
// system call: the runtime sees its goroutine running and cannot stop it
// at a safe point. If such a goroutine lives in the handler's own process
// and the fill needs the runtime to stop the world (a collection), the
// collection waits for the fault and the fault for the handler: deadlock.
// Measured (TestGoTrap, VMSPACE_UFFD_TRAP=1): a fault taken inside copy
// (memmove, assembly without async preemption points) hangs the process;
// a plain Go load does not, because the runtime's preemption signal
// interrupts the wait (Linux waits interruptibly for a user-mode fault and
// retries it) and the goroutine is preempted at the load; with
// GODEBUG=asyncpreemptoff=1 the plain load hangs too. Relying on that is
// fragile, so:
//
//   - May: serve memory of another process (pass the userfaultfd over a
//     UNIX socket with SCM_RIGHTS, as Firecracker does: ReadHandshake,
//     WriteHandshake); touch a window in this process only through system
//     calls (MADV_POPULATE_READ/WRITE, read(2) into it, process_vm_readv),
//     where a waiting goroutine is in a syscall and does not hold up the
//     collector (TestLocalWindow runs a collection during every fill);
//     read a page from Go after populating it while nothing can drop it.
//   - May not: load or store from Go code in this process to a window page
//     that may be missing (copy, append, the runtime and cgo code are the
//     sure deadlocks); call Space methods from inside a Memory (it runs
//     within a write session).
//
// A Go client process touching its own registered memory served by
// another process is safe: its faults do not depend on its own runtime.
//
// # Lock order
//
// Space lock, then area locks (package internal/mm); the observer runs
// below them and takes only the handler's small mutexes (self,
// mirroring), waits for the reader's batch in progress by watching
// readSeq (odd while the reader holds readMu for writing, between read(2)
// and sorting what it read; a fill holds readMu for reading from its check
// for queued events to its ioctl), then calls the Memory: a Remote's
// mutex and its round trip to the
// client, which waits on the client's memory goroutine and, through the
// client's madvise, on the reader. The reader takes no space or area lock
// and never waits on a Memory; the applier takes the space lock through
// the Space's methods and holds no handler lock while doing so; workers
// take one area read lock at a time and, under it, only readMu shared
// around a fill's ioctl (which never waits for a session: with an event
// unread it fails with EAGAIN). Nothing but the reader takes readMu for
// writing: a waiting writer would hold off the fills behind it.
//
// Order (mm.Orderer) sits above the space lock: it runs before a write
// session takes it, holding nothing, and waits for the reader's batch in
// progress (readSeq) and for the applier's mirrors, which take the space
// lock. So a goroutine must not start a write session of the space while
// it holds an area handle (Space.LockArea) of that space: a mirror may
// need to write-lock that area. The applier's own sessions skip Order.
//
// # Shutdown
//
// Close stops the goroutines, detaches the handler from the space,
// poisons every page of the windows that is not installed (UFFDIO_POISON,
// page by page) and closes the descriptor: every thread waiting in a fault
// is woken and gets SIGBUS, and so does every later access to a page that
// was never installed; installed pages stay readable. (Closing the
// descriptor alone wakes nobody while the client keeps its own copy of
// it.) Close also lifts the write protection it set: a thread waiting on
// a denied store completes it. Without UFFD_FEATURE_POISON enabled by the client, waiting threads
// stay blocked until the client closes its descriptor. Closing the space
// first makes every later fault a SIGBUS too. Serve returns
// ErrClientGone when the client's process exits (Config.Pidfd) or the
// descriptor fails.
package uffd
