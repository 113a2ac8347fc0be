package uffd_test

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// TestGoTrap shows the Go trap the package doc describes. In a child
// process a goroutine touches a missing page of a window served in the
// same process, and the handler runs a collection before the fill:
//
//   - "copy": the access is inside copy (memmove, assembly: no async
//     preemption point). The collection waits for the goroutine, the fill
//     waits for the collection: the child hangs (killed after 5 s).
//   - "load": a plain Go load. The runtime's preemption signal interrupts
//     the fault (the kernel waits interruptibly for a user-mode fault and
//     retries it after the handler), so the collection goes on and the
//     child finishes. With GODEBUG=asyncpreemptoff=1 it hangs too.
//
// Set VMSPACE_UFFD_TRAP=1 to run it (about 5 s).
func TestGoTrap(t *testing.T) {
	if how := os.Getenv("VMSPACE_UFFD_TRAP_CHILD"); how != "" {
		trapChild(how)
		return
	}
	if os.Getenv("VMSPACE_UFFD_TRAP") == "" {
		t.Skip("set VMSPACE_UFFD_TRAP=1 to show the Go trap (5 s)")
	}
	if fd, _, err := uffd.Open(0, 0); err != nil {
		t.Skipf("userfaultfd not permitted here: %v", err)
	} else {
		unix.Close(fd)
	}
	for _, tc := range []struct {
		how   string
		hangs bool
	}{{"copy", true}, {"load", false}} {
		t.Run(tc.how, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestGoTrap$")
			cmd.Env = append(os.Environ(), "VMSPACE_UFFD_TRAP_CHILD="+tc.how)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if tc.hangs {
					t.Fatalf("the child finished (%v), want a hang; output:\n%s", err, out.String())
				}
				if err != nil {
					t.Fatalf("the child failed: %v\n%s", err, out.String())
				}
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
				if !tc.hangs {
					t.Fatal("the child hung for 5 s, want it to finish")
				}
			}
		})
	}
}

var trapSink byte

// trapChild serves a window in this process and touches it from Go.
func trapChild(how string) {
	fd, _, err := uffd.Open(0, 0)
	if err != nil {
		os.Exit(3)
	}
	mem, _ := unix.Mmap(-1, 0, vmspace.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	host := uint64(uintptr(unsafe.Pointer(&mem[0])))
	uffd.Register(fd, uintptr(host), uintptr(len(mem)), uffd.RegisterMissing)
	s, _ := vmspace.New()
	s.Map(host, vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapFixed)
	h, _ := uffd.New(s, fd, uffd.Config{
		Regions:    []uffd.Region{{Host: host, Size: vmspace.PageSize, Base: host}},
		BeforeFill: func(uint64) { runtime.GC() },
	})
	go h.Serve()
	if how == "copy" {
		var buf [64]byte
		copy(buf[:], mem) // the fault happens inside memmove
		trapSink = buf[7]
	} else {
		trapSink = mem[100] // the fault happens on a Go load
	}
	os.Exit(0)
}
