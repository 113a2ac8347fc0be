package uffd

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
)

// pageBits is a bitmap with a bit per page of a window. Its words are
// atomic: bits of two areas share a word, and fault servers (under area
// read locks), the reader and write sessions update it at once.
type pageBits []atomic.Uint64

func newPageBits(pages uint64, set bool) pageBits {
	b := make(pageBits, (pages+63)/64)
	if set {
		for i := range b {
			b[i].Store(^uint64(0))
		}
	}
	return b
}

func (b pageBits) get(pg uint64) bool { return b[pg/64].Load()&(1<<(pg%64)) != 0 }

func (b pageBits) set(pg uint64, on bool) {
	if on {
		b[pg/64].Or(1 << (pg % 64))
	} else {
		b[pg/64].And(^(uint64(1) << (pg % 64)))
	}
}

// clearRange clears the bits of pages [lo, hi).
func (b pageBits) clearRange(lo, hi uint64) {
	for pg := lo; pg < hi; {
		if pg%64 == 0 && hi-pg >= 64 {
			b[pg/64].Store(0)
			pg += 64
			continue
		}
		b.set(pg, false)
		pg++
	}
}

// anyInRange reports whether a bit of pages [lo, hi) is set.
func (b pageBits) anyInRange(lo, hi uint64) bool {
	for pg := lo; pg < hi; {
		if pg%64 == 0 && hi-pg >= 64 {
			if b[pg/64].Load() != 0 {
				return true
			}
			pg += 64
			continue
		}
		if b.get(pg) {
			return true
		}
		pg++
	}
	return false
}

// The present bitmap (window.present) says which pages of a window may
// hold a page in the client's memory, so that a write session of the
// space makes no system call for a range where none can be: an Unmap or
// Protect of memory the client never touched (the bench's churn, a VMM's
// hot-plug of a range the guest never used) costs nothing on the client's
// side. Measured (`vmspace bench --engines uffd-per-area --churn
// none,unrelated`): without it every layout change of the churn
// write-protected and un-protected its range in the client
// (UFFDIO_WRITEPROTECT, 47% of the server's CPU profile). With it the
// churn makes no system call at all and runs 3 times as many changes a
// second; the faults' own rate under churn was not limited by it (they
// waited on the reader's batch lock, fixed separately: docs/perf.md).
//
// It errs only towards set. A bit is set before every fill of its page
// (under the area read lock and readMu, so no session and no REMOVE
// batch is between the bit and the ioctl) and at New for every page the
// client's memory holds then (its pagemap; all pages where that cannot be
// read). It is cleared only where the page is certainly gone: a REMOVE,
// UNMAP or REMAP event mirrored (the client's own drop, munmap, move: a
// REMAP moves the bits along), and a zap the handler's Memory did. A zap
// a Memory-less handler cannot do leaves it set.

// readPresent sets b's bits for the pages of host range [host,
// host+size) that are present or swapped in process pid's memory (0:
// this process), from /proc/PID/pagemap. It reports false when the
// pagemap cannot be read (no ptrace access); b may then hold some bits,
// and the caller sets them all.
func readPresent(b pageBits, pid int, host, size uint64) bool {
	path := "/proc/self/pagemap"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/pagemap", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	const present, swapped = 1 << 63, 1 << 62
	buf := make([]byte, 8*4096)
	pages := size / pageSize
	for pg := uint64(0); pg < pages; {
		n := min(pages-pg, uint64(len(buf)/8))
		if _, err := f.ReadAt(buf[:8*n], int64((host/pageSize+pg)*8)); err != nil {
			return false
		}
		for i := uint64(0); i < n; i++ {
			if binary.LittleEndian.Uint64(buf[8*i:])&(present|swapped) != 0 {
				b.set(pg+i, true)
			}
		}
		pg += n
	}
	return true
}
