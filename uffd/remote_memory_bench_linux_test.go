package uffd_test

import (
	"testing"
	"time"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// BenchmarkRemoteZap: the cost a cooperative client's memory channel adds
// to a write session of the space: Advise(DontNeed) of one page of its
// window, which waits for the client's MADV_DONTNEED (and the REMOVE
// event it raises, read by the handler) before the session ends; "none"
// is the same session on a window without a Memory (nothing reaches the
// client).
func BenchmarkRemoteZap(b *testing.B) {
	for _, mode := range []string{"none", "remote"} {
		b.Run(mode, func(b *testing.B) {
			c := startClientWith(b, 16, mode == "remote")
			var mem uffd.Memory
			if mode == "remote" {
				rm, err := uffd.NewRemote(c.mem, 10*time.Second, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer rm.Close()
				mem = rm
			}
			s, _, stop := serveRemoteWith(b, c, image(16), mem)
			defer stop()
			pg := c.ms[0].BaseHostVirtAddr
			b.ResetTimer()
			for range b.N {
				if err := s.Advise(pg, vmspace.PageSize, vmspace.AdviseDontNeed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
