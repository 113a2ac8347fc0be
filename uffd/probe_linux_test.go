package uffd

import (
	"errors"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openForTest opens a userfaultfd with features, or skips naming why.
func openForTest(t *testing.T, features uint64) (int, uint64) {
	t.Helper()
	fd, offered, err := Open(0, features)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSYS) {
		fd, offered, err = Open(UserModeOnly, features)
	}
	if err != nil {
		t.Skipf("userfaultfd not permitted here (%v): vm.unprivileged_userfaultfd=0 without CAP_SYS_PTRACE, or no kernel support", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, offered
}

// needFeature skips unless the kernel offers feature f.
func needFeature(t *testing.T, offered, f uint64, name string) {
	t.Helper()
	if offered&f != f {
		t.Skipf("kernel does not offer %s (features %#x)", name, offered)
	}
}

// readMsg waits for one message on fd (non-blocking descriptor).
func readMsg(t *testing.T, fd int) msg {
	t.Helper()
	var buf [msgSize]byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.Read(fd, buf[:])
		if err == nil && n == msgSize {
			return decodeMsg(buf[:])
		}
		if err != unix.EAGAIN {
			t.Fatalf("read uffd: %d, %v", n, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no uffd message within 10s")
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		unix.Poll(pfd, 100)
	}
}

func probeRegion(t *testing.T, fd int, pages int, mode uint64) []byte {
	t.Helper()
	m, err := unix.Mmap(-1, 0, pages*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	if err := Register(fd, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), mode); err != nil {
		t.Skipf("UFFDIO_REGISTER mode %d refused: %v", mode, err)
	}
	return m
}

// populate faults [p, p+4096) in with MADV_POPULATE_{READ,WRITE}, a system
// call: the goroutine waits in the kernel, not in a CPU trap, so the
// runtime can stop it (the Go trap, see doc.go).
func populate(p []byte, write bool) error {
	adv := unix.MADV_POPULATE_READ
	if write {
		adv = unix.MADV_POPULATE_WRITE
	}
	return unix.Madvise(p[:4096], adv)
}

// TestProbe checks, one subtest per feature, what this kernel's
// userfaultfd does that the package relies on; each skips naming what is
// missing.
func TestProbe(t *testing.T) {
	fd, offered := openForTest(t, 0)
	t.Logf("features offered: %#x", offered)

	t.Run("missing+copy", func(t *testing.T) {
		fd, _ := openForTest(t, 0)
		m := probeRegion(t, fd, 2, RegisterMissing)
		done := make(chan error, 1)
		go func() { done <- populate(m, false) }()
		ms := readMsg(t, fd)
		if ms.event != eventPagefault || ms.b != uint64(uintptr(unsafe.Pointer(&m[0]))) {
			t.Fatalf("got %+v", ms)
		}
		page := make([]byte, 4096)
		page[7] = 42
		if n, err := uffdCopy(fd, uintptr(ms.b), unsafe.Pointer(&page[0]), 4096, 0); err != nil || n != 4096 {
			t.Fatalf("UFFDIO_COPY: %d %v", n, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if m[7] != 42 {
			t.Fatalf("page holds %d, want 42", m[7])
		}
		// EEXIST: the page is there already.
		if _, err := uffdCopy(fd, uintptr(ms.b), unsafe.Pointer(&page[0]), 4096, 0); err != unix.EEXIST {
			t.Fatalf("second copy: %v, want EEXIST", err)
		}
	})
	t.Run("zeropage", func(t *testing.T) {
		fd, _ := openForTest(t, 0)
		m := probeRegion(t, fd, 1, RegisterMissing)
		done := make(chan error, 1)
		go func() { done <- populate(m, false) }()
		ms := readMsg(t, fd)
		if n, err := uffdZeropage(fd, uintptr(ms.b), 4096); err != nil || n != 4096 {
			t.Fatalf("UFFDIO_ZEROPAGE: %d %v", n, err)
		}
		if err := <-done; err != nil || m[0] != 0 {
			t.Fatal(err, m[0])
		}
	})
	t.Run("poison", func(t *testing.T) {
		needFeature(t, offered, FeaturePoison, "UFFD_FEATURE_POISON")
		fd, _ := openForTest(t, FeaturePoison)
		m := probeRegion(t, fd, 1, RegisterMissing)
		done := make(chan error, 1)
		go func() { done <- populate(m, false) }()
		ms := readMsg(t, fd)
		if _, err := uffdPoison(fd, uintptr(ms.b), 4096); err != nil {
			t.Fatalf("UFFDIO_POISON: %v", err)
		}
		// The populate fails: the page is poisoned (a load would get SIGBUS).
		if err := <-done; err == nil {
			t.Fatal("populate of a poisoned page succeeded")
		} else {
			t.Logf("populate of a poisoned page: %v", err)
		}
	})
	t.Run("writeprotect", func(t *testing.T) {
		needFeature(t, offered, FeaturePagefaultFlagWP, "UFFD_FEATURE_PAGEFAULT_FLAG_WP")
		fd, _ := openForTest(t, 0)
		m := probeRegion(t, fd, 1, RegisterMissing|RegisterWP)
		page := make([]byte, 4096)
		go func() {
			ms := readMsg(t, fd)
			uffdCopy(fd, uintptr(ms.b), unsafe.Pointer(&page[0]), 4096, copyModeWP)
		}()
		if err := populate(m, false); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- populate(m, true) }()
		ms := readMsg(t, fd)
		if ms.event != eventPagefault || ms.a&pagefaultWP == 0 {
			t.Fatalf("got %+v, want a write-protect fault", ms)
		}
		if err := uffdWriteProtect(fd, uintptr(ms.b), 4096, false); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("move", func(t *testing.T) {
		needFeature(t, offered, FeatureMove, "UFFD_FEATURE_MOVE")
		fd, _ := openForTest(t, FeatureMove)
		m := probeRegion(t, fd, 1, RegisterMissing)
		src, _ := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		defer unix.Munmap(src)
		src[3] = 9
		if n, err := uffdMove(fd, uintptr(unsafe.Pointer(&m[0])), uintptr(unsafe.Pointer(&src[0])), 4096); err != nil || n != 4096 {
			t.Fatalf("UFFDIO_MOVE: %d %v", n, err)
		}
		if m[3] != 9 {
			t.Fatalf("moved page holds %d", m[3])
		}
	})
	for _, ev := range []struct {
		name    string
		feature uint64
		event   uint8
		do      func(m []byte) error
	}{
		{"event-remove", FeatureEventRemove, eventRemove, func(m []byte) error { return unix.Madvise(m, unix.MADV_DONTNEED) }},
		{"event-unmap", FeatureEventUnmap, eventUnmap, func(m []byte) error { return unix.Munmap(m) }},
		{"event-remap", FeatureEventRemap, eventRemap, func(m []byte) error {
			_, err := unix.Mremap(m, 2*len(m), unix.MREMAP_MAYMOVE)
			return err
		}},
	} {
		t.Run(ev.name, func(t *testing.T) {
			needFeature(t, offered, ev.feature, ev.name)
			fd, _ := openForTest(t, ev.feature)
			m, err := unix.Mmap(-1, 0, 2*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				t.Fatal(err)
			}
			if err := Register(fd, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), RegisterMissing); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- ev.do(m) }() // blocks until the event is read
			ms := readMsg(t, fd)
			if ms.event != ev.event {
				t.Fatalf("got event %#x, want %#x", ms.event, ev.event)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
	_ = fd
}
