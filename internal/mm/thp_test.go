package mm

import (
	"testing"
)

// thpFile is a MemFile whose file system aligns mappings to huge pages.
type thpFile struct{ *MemFile }

func (thpFile) THPAligned() bool { return true }

// TestTHPAlign checks thp_get_unmapped_area's placement, as worked out
// from __thp_get_unmapped_area: room for the length plus 2 MiB is found
// top-down, then the start moves up to agree with the file offset modulo
// 2 MiB (a whole 2 MiB when it already agrees). The live kernel's
// placements are checked by the shadow's tests (internal/shadow), which
// run a program making such mappings and compare.
func TestTHPAlign(t *testing.T) {
	const base = 0x7f0000123000 // mmap_base, not huge-page aligned
	f := thpFile{NewMemFile(FileID{Dev: 1, Ino: 7}, "/f", 8<<20, false)}
	plain := NewMemFile(FileID{Dev: 1, Ino: 8}, "/g", 8<<20, false)
	for _, tc := range []struct {
		name       string
		length     uint64
		file       File
		off, hint  uint64
		flags      MapFlags
		thp, noTHP uint64 // the address with THPAlign, and without
	}{
		// ret = base-6M = 0x7effffb23000; aligned up: 0x7effffc00000.
		{"anon 4M", 4 << 20, nil, 0, 0, MapPrivate, 0x7effffc00000, base - 4<<20},
		{"anon 4M+page: not a multiple", 4<<20 + PageSize, nil, 0, 0, MapPrivate, base - 4<<20 - PageSize, base - 4<<20 - PageSize},
		{"anon 4M shared: shmem, not aligned", 4 << 20, nil, 0, 0, MapShared, base - 4<<20, base - 4<<20},
		{"anon 4M with a hint", 4 << 20, nil, 0, 0x500000000000, MapPrivate, 0x500000000000, 0x500000000000},
		// ret = base-5M-page = 0x7effffc22000: to offset 0 mod 2M.
		{"file 3M+page", 3<<20 + PageSize, f, 0, 0, MapPrivate, 0x7effffe00000, base - 3<<20 - PageSize},
		// ret = base-6M = 0x7effffb23000: up to 0x1000 mod 2M.
		{"file 4M at offset 4K", 4 << 20, f, PageSize, 0, MapPrivate, 0x7effffc01000, base - 4<<20},
		// Offsets [4K, 3M+4K) hold no whole aligned 2M: plain.
		{"file 3M at offset 4K", 3 << 20, f, PageSize, 0, MapPrivate, base - 3<<20, base - 3<<20},
		{"file of a plain file system", 4 << 20, plain, 0, 0, MapPrivate, base - 4<<20, base - 4<<20},
		// ret = base-6M is 2M-aligned here: up by a whole 2M.
		{"file 4M, aligned start", 4 << 20, f, 0x123000, 0, MapPrivate, 0x7effffd23000, base - 4<<20},
	} {
		for _, on := range []bool{true, false} {
			c := DefaultConfig()
			c.MmapBase, c.THPAlign = base, on
			s, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			var got uint64
			if tc.file == nil {
				got, err = s.Map(tc.hint, tc.length, ProtRead, tc.flags|MapAnonymous)
			} else {
				got, err = s.MapFile(tc.hint, tc.length, ProtRead, tc.flags, tc.file, tc.off)
			}
			want := tc.noTHP
			if on {
				want = tc.thp
			}
			if err != nil || got != want {
				t.Errorf("%s, THPAlign %v: got %#x, %v; want %#x", tc.name, on, got, err, want)
			}
			if on && tc.file != nil {
				// A move by mremap places the same way.
				c2 := c
				s2, _ := New(c2)
				a, _ := s2.MapFile(0x100000000, PageSize, ProtRead, MapPrivate, tc.file, tc.off)
				s2.Map(a+PageSize, PageSize, ProtNone, MapPrivate|MapAnonymous|MapFixed) // no growing in place
				moved, err := s2.Remap(a, PageSize, tc.length, RemapMayMove, 0)
				if err != nil || moved != want {
					t.Errorf("%s, moved by Remap: got %#x, %v; want %#x", tc.name, moved, err, want)
				}
				s2.Close()
			}
			s.Close()
		}
	}
}
