package uffdtorture

import (
	"encoding/binary"
	"testing"

	"github.com/vmspace/vmspace/internal/uffdclient"
)

func TestImageWord(t *testing.T) {
	buf := make([]byte, uffdclient.PageSize)
	for _, p := range []int{0, 1, 77, 4095, 1 << 19} {
		uffdclient.ImagePage(p, buf)
		for i := range wordsPerPage {
			if got, want := imageWord(uint64(p), i), binary.LittleEndian.Uint64(buf[i*8:]); got != want {
				t.Fatalf("page %d word %d: %#x, image has %#x", p, i, got, want)
			}
		}
	}
}
