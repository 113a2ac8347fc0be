#!/usr/bin/env python3
"""Mutation testing of vmspace's locking protocol (docs/mutations.md).

Each mutation breaks one check of the protocol. For each one named on the
command line (all by default) this copies the working tree to a temporary
directory, applies the mutation there, runs the suites below and prints
which tests failed. The working tree itself is never touched, so other
work in it goes on undisturbed and nothing needs reverting.

    python3 .ci/mutate.py                  # all mutations (about 30 minutes)
    python3 .ci/mutate.py m04-tryinc-ignores-exclusion
    python3 .ci/mutate.py --suites=A m17-fork-parent-unlocked
    python3 .ci/mutate.py --lock-sites --suites=A w01-split   # the write-lock sites
    python3 .ci/mutate.py --suites=UL u10-no-order             # package uffd (real faults)

Not run by .ci/run: too slow for CI.
"""
import os, re, shutil, subprocess, sys, tempfile, time

# name: (file, old, new, what it breaks). Several replacements in one file
# are separated by |||.
MUTATIONS = {
 "m01-no-same-space-check": ("internal/mm/lookup.go",
   "if other := a.space.Load(); other != s {",
   "if other := a.space.Load(); other == nil {",
   "tryReadLock: no same-space check after the increment"),
 "m02-no-range-recheck": ("internal/mm/lookup.go",
   "if addr < a.start || addr >= a.end {",
   "if addr < a.start && addr >= a.end {",
   "lockAreaLockless: no range re-check after locking"),
 "m03-detach-no-wait": ("internal/arealock/arealock.go",
   "\tif l.count.Add(^uint32(0)) == 0 {\n\t\treturn\n\t}",
   "\tif l.count.Add(^uint32(0)) != 1<<31 {\n\t\treturn\n\t}",
   "Detach: return after the decrement without waiting for a transient reader"),
 "m04-tryinc-ignores-exclusion": ("internal/arealock/arealock.go",
   "if old == 0 || old >= Limit {",
   "if old == 0 {",
   "TryInc: a reader gets in while ExcludeReaders is set"),
 "m05-free-resets-stamp": ("internal/mm/area.go",
   "\ta.live.Store(false)\n",
   "\ta.live.Store(false)\n\ta.lock.Init() // mutation: resets the stamp\n",
   "freeArea: reset the freed area's stamp"),
 "m06-unlock-no-seq": ("internal/spacelock/spacelock.go",
   "func (l *Lock) Unlock() {\n\tl.seq.Add(1)\n",
   "func (l *Lock) Unlock() {\n",
   "spacelock.Unlock: no sequence increment at the end of the write session"),
 "m07-reuse-early-stamp": ("internal/mm/lookup.go",
   "\tif a.lock.StampLooksLocked(&s.lock) {\n\t\treturn readFailed\n\t}|||if a.lock.Stamp() == s.lock.Seq() {",
   "\tearlyStamp, earlySeq := a.lock.Stamp(), s.lock.Seq()\n\tif earlyStamp == earlySeq {\n\t\treturn readFailed\n\t}|||if earlyStamp == earlySeq {",
   "tryReadLock: the check after the increment reuses the early loads"),
 "m08-startwrite-no-exclude": ("internal/arealock/arealock.go",
   "excl := l.excludeReaders(sl, ExcludeReaders+1)",
   "excl := false",
   "StartWrite: stamp without excluding readers or waiting for them"),
 "m09-abort-no-reattach": ("internal/mm/session.go",
   "\tfor _, a := range x.detached {\n\t\ta.lock.Attach(&s.lock)\n\t}\n",
   "",
   "session.abort: areas detached in the failed session stay detached"),
 "m10-forget-after-free": ("internal/mm/session.go",
   "\tx.forget()\n\tfor _, a := range x.detached {\n\t\ts.freeArea(a)\n\t}\n\tfor _, a := range x.fresh[:ndropped] {\n\t\ts.freeArea(a)\n\t}\n",
   "\tfor _, a := range x.detached {\n\t\ts.freeArea(a)\n\t}\n\tfor _, a := range x.fresh[:ndropped] {\n\t\ts.freeArea(a)\n\t}\n\tx.forget()\n",
   "session.commit: clear the session marks after freeing the areas"),
 "m11-anon-blocking-rlock": ("internal/mm/fault.go",
   "\t\tif !s.lock.TryRLock() {\n\t\t\treturn errRetry\n\t\t}\n",
   "\t\ts.lock.RLock()\n",
   "anonPrepare: block on the space lock under an area read lock"),
 "m12-attach-after-publish": ("internal/mm/session.go",
   "\tfor _, a := range x.fresh {\n\t\tif a.sess&sessDropped == 0 {\n\t\t\ta.lock.Attach(&s.lock) // vma_mark_attached: release; fields visible\n\t\t}\n\t}\n\ts.hook(HookBeforeCommit, nil)\n\tx.txn.Commit()\n",
   "\ts.hook(HookBeforeCommit, nil)\n\tx.txn.Commit()\n\tfor _, a := range x.fresh {\n\t\tif a.sess&sessDropped == 0 {\n\t\t\ta.lock.Attach(&s.lock)\n\t\t}\n\t}\n",
   "session.commit: attach new areas after publishing the tree"),
 "m13-wake-own-space": ("internal/mm/lookup.go",
   "a.lock.Put(&other.lock)",
   "a.lock.Put(&s.lock)",
   "tryReadLock: drop a foreign reference waking this space's writer, not the owner's"),
 "m14-inc-on-detached": ("internal/arealock/arealock.go",
   "if old == 0 || old >= Limit {",
   "if old >= Limit {",
   "TryInc: a reader may increment a detached (0) area"),
 "m15-cow-no-slot-recheck": ("internal/mm/fault.go",
   "!st.WasShared() && slot.Load() != p:|||ok := slot.Load() == p && s.mem.Exclusive(p)",
   "!st.WasShared() && false:|||ok := s.mem.Exclusive(p)",
   "faultLocked (reusable): reuse an exclusive-looking page without re-checking its slot"),
 "m16-copy-install-unchecked": ("internal/mm/fault.go",
   "ok := slot.Load() == p && s.mem.Maps(p) > 1 && slot.CompareAndSwap(p, np)",
   "ok := slot.Load() == p && slot.CompareAndSwap(p, np)",
   "installCopy: install a copy without checking that the page is still shared (the lost write)"),
 "m17-fork-parent-unlocked": ("internal/mm/fork.go",
   "\t\tx.lockArea(it.Val.a) // vma_start_write on every parent area\n",
   "",
   "Fork: copy the parent's pages without write-locking its areas (Linux 6.4 fork corruption)"),
 "m18-remap-source-unlocked": ("internal/mm/remap_move.go",
   "\tx.lockArea(r.a) // no racing faults on the source\n",
   "",
   "moveArea: move pages out of a source area that is not write-locked"),
 "m19-readmit-before-stamp": ("internal/arealock/arealock.go",
   "\tl.stamp.Store(seq)\n\tif excl {|||\t\t\t(*hook)(l)\n\t\t}\n\t}\n}",
   "\tif excl {|||\t\t\t(*hook)(l)\n\t\t}\n\t}\n\tl.stamp.Store(seq)\n}",
   "StartWrite: end the exclusion of readers before storing the stamp"),
 "m20-advise-lockless-past-end": ("internal/mm/madvise_lockless.go",
   "\tif end > a.end {\n\t\treturn false, nil\n\t}\n",
   "",
   "adviseUnderAreaLock: DONTNEED/FREE a range running past the read-locked area"),
 "m21-maps-live-fields": ("internal/mm/maps.go",
   "m := Mapping{Start: it.Start, End: it.End, Flags: e.flags,",
   "m := Mapping{Start: it.Val.a.start, End: it.Val.a.end, Flags: it.Val.a.flags,",
   "Maps: list the areas' live fields instead of the published snapshot's"),
 "m22-truncate-zap-no-area-lock": ("internal/mm/file.go",
   "\t\tx.lockArea(a)\n\t\tx.pageWork(opZap, start, a.end)",
   "\t\tx.pageWork(opZap, start, a.end)",
   "zapObjectFrom: zap a truncated file's pages without write-locking the area"),
 "m23-file-fault-falls-back": ("internal/mm/fault.go",
   "\t\t\terr := s.faultLocked(a, addr, acc, false, fn)",
   "\t\t\terr := errRetry\n\t\t\tif a.shm == nil || a.shm.file == nil {\n\t\t\t\terr = s.faultLocked(a, addr, acc, false, fn)\n\t\t\t}",
   "access: file faults leave the area lock for the space lock"),
 "m24-holdframe-no-slot-recheck": ("internal/mm/fault.go",
   "\tif slot.Load() != f {\n\t\ts.mem.Unref(f)\n\t\treturn false\n\t}\n\treturn true\n}",
   "\treturn true\n}",
   "holdFrame: a reader that loaded a slot takes its frame reference without re-checking the slot (a freed and reused frame is touched)"),
 "m25-hint-no-range-check": ("internal/mm/lookup.go",
   "if addr >= a.start && addr < a.end {",
   "if true {",
   "lockAreaLockless: use the hinted area without checking that it still covers the address"),
 "m26-latch-writes-readers-copy": ("internal/tree/tree.go",
   "\tt.copy[0].store(r)\n\tt.hook(hookPublish)",
   "\tt.copy[1].store(r)\n\tt.hook(hookPublish)",
   "publish: rewrite the root copy readers are using while the sequence is odd"),
}

# Write-lock sites (issue 11): each removes one x.lockArea before a change;
# each is caught by its case of TestWriterWaitsForReader. Run them with
# --suites A (or the case alone); they are not part of the default table.
LOCK_SITES = {
 "w01-split": ("internal/mm/vma.go",
   "func (x *session) split(a *Area, addr uint64, newBelow bool) (*Area, error) {\n\tx.lockArea(a)\n",
   "func (x *session) split(a *Area, addr uint64, newBelow bool) (*Area, error) {\n",
   "split: cut an area without write-locking it"),
 "w02-merge-new-left": ("internal/mm/vma.go",
   "\t\tp := m.prev\n\t\tx.lockArea(p)\n",
   "\t\tp := m.prev\n",
   "mergeNew: expand prev over a new range without write-locking it"),
 "w03-merge-new-right": ("internal/mm/vma.go",
   "\t\tn := m.next\n\t\tx.lockArea(n)\n",
   "\t\tn := m.next\n",
   "mergeNew: extend next down over a new range without write-locking it"),
 "w04-merge-existing-mid": ("internal/mm/vma.go",
   "\tx.lockArea(mid)\n",
   "",
   "mergeExisting: shrink or remove the middle area without write-locking it"),
 "w05-merge-existing-next": ("internal/mm/vma.go",
   "\tif right {\n\t\tx.lockArea(n)\n\t}\n",
   "",
   "mergeExisting: change next without write-locking it"),
 "w06-merge-existing-prev": ("internal/mm/vma.go",
   "\tif left {\n\t\tx.lockArea(p)\n\t}\n",
   "",
   "mergeExisting: change prev without write-locking it"),
 "w07-modify-flags": ("internal/mm/madvise.go",
   "\tx.lockArea(a)\n\tst := stateOf(a)\n\tst.flags = newflags\n",
   "\tst := stateOf(a)\n\tst.flags = newflags\n",
   "modifyFlags: change an area's flags (MADV_WIPEONFORK here) without write-locking it"),
 "w08-guard-install": ("internal/mm/madvise.go",
   "\t\tx.lockArea(a)\n\t\tx.pageWork(opGuardInstall, start, end)\n",
   "\t\tx.pageWork(opGuardInstall, start, end)\n",
   "adviseArea: install guard markers without write-locking the area"),
 "w09-dontneed": ("internal/mm/madvise.go",
   "\t\tx.lockArea(a)\n\t\tx.pageWork(kind, start, end)\n",
   "\t\tx.pageWork(kind, start, end)\n",
   "adviseArea: zap pages (DONTNEED) without write-locking the area"),
 "w10-pageout": ("internal/mm/madvise.go",
   "\t\t\tx.lockArea(a)\n\t\t\tif shared {\n",
   "\t\t\tif shared {\n",
   "adviseArea: page out without write-locking the area"),
 "w11-expand-stack": ("internal/mm/stack.go",
   "\tx.lockArea(a)\n\tst := stateOf(a)\n",
   "\tst := stateOf(a)\n",
   "expandStack: grow a stack area without write-locking it"),
}

# Values in the tree's leaves (internal/tree/cell.go): a lockless reader
# never keeps a value torn by a refill, and no cell is written while a
# published version or a pinned Snapshot reaches it. Caught by suite T.
MUTATIONS.update({
 "c01-findval-no-value-recheck": ("internal/tree/lockless.go",
   "\tif l.seq.Load() != ls {\n\t\tvar zero V",
   "\tif false {\n\t\tvar zero V",
   "findVal: keep the value without re-checking the leaf's seq after copying it"),
 "c02-find-no-value-recheck": ("internal/tree/lockless.go",
   "\tif l.seq.Load() != ls {\n\t\treturn Item[V]{}, false, false\n\t}\n\tif addr >= it.End {",
   "\tif false {\n\t\treturn Item[V]{}, false, false\n\t}\n\tif addr >= it.End {",
   "find: keep the item without re-checking the leaf's seq after copying it"),
 "c03-edge-no-value-recheck": ("internal/tree/lockless.go",
   "\tif l.seq.Load() != ls {\n\t\treturn Item[V]{}, false, false\n\t}\n\treturn it, true, true",
   "\tif false {\n\t\treturn Item[V]{}, false, false\n\t}\n\treturn it, true, true",
   "edgeTry (First, Last): keep the item without re-checking the leaf's seq"),
 "c04-set-into-published-leaf": ("internal/tree/txn.go",
   "\tl, err := x.ownPath(start)\n|||// ownPath makes the path to the leaf",
   "\tl, err := x.publishedLeaf(start), error(nil)\n|||"
   "func (x *Txn[V, C, P]) publishedLeaf(addr uint64) *leaf[V, C, P] {\n"
   "\tr := x.t.loadRoot()\n\tif r.height == 0 {\n\t\treturn r.leaf\n\t}\n\tn := r.top\n"
   "\tfor h := r.height; ; h-- {\n\t\ti := max(upper(&n.start, n.count(), addr)-1, 0)\n"
   "\t\tif h == 1 {\n\t\t\treturn n.leaves[i].Load()\n\t\t}\n\t\tn = n.kids[i].Load()\n\t}\n}\n\n"
   "// ownPath makes the path to the leaf",
   "Set: store the new value into the published leaf's cell instead of a private copy"),
 "c05-retire-ignores-pins": ("internal/tree/recycle.go",
   "\tif t.pins.Load() == 0 {\n\t\trc.reclaim(t)",
   "\tif true {\n\t\trc.reclaim(t)",
   "retire: put what a commit unlinked on the free lists while a Snapshot is pinned"),
 "c06-cell-plain-words": ("internal/tree/cell_test.go",
   "type intCell struct{ v atomic.Int64 }\n\nfunc (c *intCell) Load() int { return int(c.v.Load()) }\n\n"
   "func (c *intCell) Store(v int) {\n\tif c.v.Load() != int64(v) {\n\t\tc.v.Store(int64(v))\n\t}\n}",
   "type intCell struct{ v int }\n\nfunc (c *intCell) Load() int { return c.v }\n\n"
   "func (c *intCell) Store(v int) { c.v = v }",
   "the tests' int cell with a plain word instead of an atomic"),
})

# In-place leaf writes (internal/tree/inplace.go): a reader stopped in the
# middle of one restarts or sees one version whole, and a pinned Snapshot
# never sees one. Caught by suite T.
MUTATIONS.update({
 "i01-inplace-leaf-not-odd": ("internal/tree/inplace.go",
   "\tl.seq.Add(1)\n\tnext := |||\tx.countSlots(res.stored)\n\tl.seq.Add(1)\n",
   "\tnext := |||\tx.countSlots(res.stored)\n",
   "commitInPlace: write the published leaf without making it odd"),
 "i02-inplace-parent-not-odd": ("internal/tree/inplace.go",
   "\t\tpath[d].seq.Add(1) // odd|||\t\tpath[d].seq.Add(1) // even",
   "\t\t_ = d // odd|||\t\t// even",
   "commitInPlace: rewrite an ancestor's summary without making it odd"),
 "i03-inplace-ignores-pins": ("internal/tree/inplace.go",
   "\tif t.pins.Load() != 0 {\n\t\tt.inPlace.Store(false)",
   "\tif false {\n\t\tt.inPlace.Store(false)",
   "commitInPlace: write in place while a Snapshot is pinned"),
 "i04-snapshot-ignores-inplace": ("internal/tree/tree.go",
   "\tif t.inPlace.Load() {\n\t\tt.pins.Add(-1)",
   "\tif false {\n\t\tt.pins.Add(-1)",
   "trySnapshot: pin without checking for an in-place section"),
 "i05-txn-view-no-flush": ("internal/tree/tree.go",
   "\t\ts.x.flush() // a deferred write is part of the Txn's view\n",
   "",
   "Snapshot.root: a Txn's view without its deferred write"),
})

# Package uffd (issue 12): run with --suites=UL; the real-fault torture
# needs userfaultfd. Not part of the default table (minutes each).
UFFD = {
 "u04-mirror-ignores-thread": ("uffd/handler_linux.go",
   "return lo >= h.mirroring.lo && hi <= h.mirroring.hi && h.mirroring.tid == unix.Gettid()",
   "return lo >= h.mirroring.lo && hi <= h.mirroring.hi",
   "isMirrored: any session over the range being mirrored skips its Memory calls"),
 "u08-move-ignores-override": ("uffd/observer_linux.go",
   "if ov, ok := h.lookupOverride(src); ok {",
   "if ov, ok := h.lookupOverride(src); ok && false {",
   "observer Move: an override at the source does not move on"),
 "u09-protect-whole-areas": ("internal/mm/observer.go",
   "\treport := func(a *Area) {\n\t\tprot := a.flags.Prot()\n",
   "\treport := func(a *Area) {\n\t\tprot := a.flags.Prot()\n\t\tif true {\n\t\t\tfn(a.start, a.end, prot)\n\t\t\treturn\n\t\t}\n",
   "protectionChangesLocked: Protect the whole areas a session created or changed"),
 "u10-no-order": ("uffd/handler_linux.go",
   "func (o *observer) Order() {\n\th := (*Handler)(o)\n",
   "func (o *observer) Order() {\n\tif true {\n\t\treturn\n\t}\n\th := (*Handler)(o)\n",
   "Order: a write session does not wait for the client's events read so far to be mirrored"),
 "u11-order-no-batch-wait": ("uffd/handler_linux.go",
   "\ts := h.readSeq.Load()\n\tif s&1 == 0 {",
   "\ts := h.readSeq.Load()\n\tif true || s&1 == 0 {",
   "waitReaderBatch: Sync and Order do not wait for the reader's batch in progress"),
 "u12-wp-ignores-present": ("uffd/wp_linux.go",
   "\tif on && !w.mayHold(lo, hi) {",
   "\tif false && on && !w.mayHold(lo, hi) {",
   "writeProtect: a system call for ranges where the client holds no page"),
 "u13-remap-keeps-present": ("uffd/handler_linux.go",
   "\t\t\t\ttw.present.set(tpg, fw.present.get(fpg))\n",
   "\t\t\t\t_ = tpg\n",
   "mirror REMAP: the present bits do not follow the client's pages"),
 "u14-fill-no-present": ("uffd/handler_linux.go",
   "\tw.present.set(pg, true)\n",
   "\t_ = pg\n",
   "fillLocked: a fill does not mark its page present"),
 "u15-mirror-not-active": ("uffd/handler_linux.go",
   "\th.mirrorActive.Store(true)\n",
   "",
   "mirror: the flag isMirrored reads first is never set (mirrors reach the client's memory again)"),
}

if "--lock-sites" in __import__("sys").argv:
    MUTATIONS.update(LOCK_SITES)
MUTATIONS.update(UFFD)

SUITES = {
 "A": "go test -race -count=1 -timeout 240s ./internal/mm/ ./internal/arealock/ ./internal/spacelock/",
 "B": "go test -race -count=1 -timeout 150s ./internal/torture/",
 "C": "go test -race -count=1 -short -tags vmspace_lockcheck -timeout 240s ./internal/mm/ ./internal/torture/",
 "T": "go test -race -count=1 -timeout 240s ./internal/tree/",
 "U": "go test -count=1 -timeout 240s -run 'TestTorture|TestObserver|TestOrderer|TestSessionOrdered|TestWriteProtect|TestRemoteWriteProtect' ./internal/uffdtorture/ ./internal/mm/ ./uffd/",
 "L": "go run ./cmd/vmspace torture --uffd --duration 30s --stall 5s --seed 101",
}


def copy_tree(root, dst):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for f in files:
        if f and os.path.isfile(os.path.join(root, f)):
            os.makedirs(os.path.dirname(os.path.join(dst, f)) or dst, exist_ok=True)
            shutil.copy2(os.path.join(root, f), os.path.join(dst, f))


def main():
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                          check=True).stdout.strip()
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    suites = SUITES
    for a in sys.argv[1:]:
        if a.startswith("--suites="):
            suites = {k: v for k, v in SUITES.items() if k in a[len("--suites="):]}
    names = args or [n for n in MUTATIONS if n not in LOCK_SITES and n not in UFFD]
    for name in names:
        f, old, new, what = MUTATIONS[name]
        with tempfile.TemporaryDirectory(prefix="vmspace-" + name + "-") as d:
            copy_tree(root, d)
            p = os.path.join(d, f)
            s = open(p).read()
            for o, n in zip(old.split("|||"), new.split("|||")):
                if s.count(o) != 1:
                    sys.exit(f"{name}: the code to mutate is not in {f} exactly once; update the table")
                s = s.replace(o, n)
            open(p, "w").write(s)
            print(f"{name}: {what}", flush=True)
            for key, cmd in suites.items():
                t0 = time.time()
                r = subprocess.run(cmd, shell=True, cwd=d, capture_output=True, text=True)
                out = r.stdout + r.stderr
                fails = sorted({m for m in re.findall(r"--- FAIL: (\S+)", out) if "/" not in m})
                notes = [n for n, pat in (("data race", "WARNING: DATA RACE"), ("timeout", "test timed out"),
                                          ("lockcheck", "lockcheck:"), ("watchdog", "DEADLOCK?")) if pat in out]
                panics = re.findall(r"^panic: (.*)$", out, re.M)
                if panics:
                    notes.append("panic: " + panics[0][:80])
                verdict = "CAUGHT" if r.returncode else "missed"
                print(f"  {key} {verdict} in {time.time()-t0:.0f}s: {', '.join(fails) or '-'} {notes or ''}", flush=True)


if __name__ == "__main__":
    main()
