// Package uffdtorture is `vmspace torture --uffd`: real page faults,
// served through userfaultfd by one vmspace server (this process, package
// uffd), taken by the threads of several client processes while the
// layout changes under them from both sides, with every page read checked
// against a model of what it must hold.
//
// # What runs
//
// Run writes a memory image, listens on a UNIX socket and starts Clients
// client processes (this binary again, told so by EnvClient). Each client
// maps Pages pages, registers them with a userfaultfd (MISSING mode; the
// REMOVE, UNMAP and REMAP events, POISON, MOVE) and sends Firecracker's
// handshake; the server gives it a Space of its own with one read-write
// area over the region, contents from its own slice of the image, and a
// uffd.Handler whose Memory forwards the space's own zaps and protection
// changes to the client (a call on the control socket that the client
// answers with madvise(MADV_DONTNEED) or mprotect: Linux has no remote
// MADV_DONTNEED), so that the server's layout changes reach pages already
// installed.
//
// Threads goroutines per client pick, at random, among:
//
//   - read a page with plain loads (a missing page is a real read fault);
//   - write a page with a pattern naming the client, the page and a
//     version (real write faults); on a page the model says is read-only,
//     populate it, try one store and require SIGSEGV with the page intact;
//   - balloon: the client's own MADV_DONTNEED over up to 32 pages (a
//     REMOVE event);
//   - the server's Space.Advise(DontNeed) and Space.Protect over up to 32
//     pages (a write session whose Memory calls come back to the client);
//   - mremap of up to 16 pages to another chunk, the hole mapped again,
//     registered and plugged (REMAP and UNMAP events, then Space.Map);
//   - hot-plug: munmap of a whole 64-page chunk, mapped again, registered
//     and plugged (UNMAP event, Space.Map);
//   - the server's Space.Unmap then Space.Map over up to 32 pages.
//
// The server's changes are asked for by the client (a request on the
// control socket) so that its model knows when they happen, as a VMM
// knows when its balloon or hot-plug device acts; they run in the server
// through the Space, racing the faults of the client's other threads and
// its munmaps and mremaps of other chunks, whose events the handler may
// not have mirrored yet. A chunk's lock orders the changes to one range
// (package uffd leaves two unordered changes of one range from the two
// sides to its caller); an mremap lets its target chunk go as soon as the
// mremap returns, so the target's reads, writes, drops and server changes
// race the mirror of the REMAP. The server never calls Sync: the handler
// orders each of its write sessions after the events read so far.
//
// Half the reads go to the ranges changed last, so that faults meet the
// events and write sessions of those changes. Each client process lives
// for Generation and is then started again, with a new space, handler and
// the whole image untouched: the image's pages are soon all touched or
// dropped, and a stale image page is what a drop lost or a fault served
// too early shows.
//
// # The model and the check
//
// Each page has a state word: whose contents it holds (the image's page,
// zeros, or a written pattern with its version), its protection, a busy
// bit while a change is under way, and a sequence number. Changes to a
// page are made under its lock (or its chunk's lock, for the changes that
// leave a hole: hot-plug, mremap, the server's unmap); reads take no page
// lock, so they race the drops and the server's write sessions. A read
// loads the state, reads the page word by word, and loads the state
// again: if nothing changed and nothing was busy, the page must equal
// the state's contents exactly (a mismatch is "lost" when zeros or a
// fault came where data was due, "stale" otherwise); if the read raced a
// change, each word must belong to one of the page's possible contents
// (zero, the image's word, this client's pattern for this page). A
// stale page installed after a drop is caught by the next read that does
// not race. At the end each client reads every page once more.
//
// # EAGAIN
//
// The handler fails one fill in EAGAINOneIn as the kernel does while an
// event is unread (uffd.Config.InjectEAGAIN), so the real retry path
// runs; real EAGAINs come from the balloons, the mremaps and the server's
// own zaps racing the fills. The report gives both.
//
// # Hangs
//
// Each client thread beats a heartbeat per operation; one that has not
// moved for Stall is reported with the operation and page it is stuck in,
// and the client exits with status 3. The parent kills a client that has
// not finished by Duration+2*Stall+30s. Clients run with the garbage
// collector off: a goroutine waiting in a fault cannot be stopped, so a
// stop-the-world would wait for the server, which may be waiting for
// this client's answer to a Memory call (the Go trap of package uffd,
// seen from the client).
package uffdtorture
