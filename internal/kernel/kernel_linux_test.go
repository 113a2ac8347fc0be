//go:build linux && (amd64 || arm64)

package kernel

import (
	"errors"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	"github.com/vmspace/vmspace/internal/script"
)

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// Two live engines get different regions, and Close leaves nothing of
// either behind, the mappings placed outside the arena included.
func TestRegionsAndClose(t *testing.T) {
	a, b := newTestEngine(t), newTestEngine(t)
	if a.base == b.base {
		t.Fatalf("both engines at %#x", a.base)
	}
	if _, _, err := a.Mmap(0, 0x2000, script.ProtRead|script.ProtWrite, script.FlagPrivate|script.FlagFixed); err != nil {
		t.Fatal(err)
	}
	// A hint over used memory is placed elsewhere by the kernel.
	if _, inside, err := a.Mmap(0, 0x1000, script.ProtRead, script.FlagPrivate); err != nil || inside {
		t.Fatalf("hint over a mapping: inside=%v err=%v", inside, err)
	}
	if areas, err := b.Maps(); err != nil || len(areas) != 0 {
		t.Fatalf("second engine sees %v, %v", areas, err)
	}
	if len(a.outside) != 1 {
		t.Fatalf("outside = %v", a.outside)
	}
	out := a.outside[0]
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	vmas, err := readMaps()
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(vmas, func(v vma) bool {
		return v.start < a.arenaHi && v.end > a.arenaLo || v.start < out[0]+out[1] && v.end > out[0]
	}) {
		t.Errorf("mappings left after Close: %v", vmas)
	}
}

// Calls that would reach the process's own memory outside the arena are
// refused; calls the kernel rejects up front are not.
func TestOutsideArena(t *testing.T) {
	e := newTestEngine(t)
	var local [64]byte
	heap := new([4096]byte)
	for _, p := range []unsafe.Pointer{unsafe.Pointer(&local[0]), unsafe.Pointer(&heap[0])} {
		off := uint64(uintptr(p)) - e.base
		if err := e.Touch(off, 1); !errors.Is(err, ErrOutsideArena) {
			t.Errorf("touch of Go memory: %v", err)
		}
		if _, err := e.Read(off); !errors.Is(err, ErrOutsideArena) {
			t.Errorf("read of Go memory: %v", err)
		}
		pg := off &^ (pageSize - 1)
		if err := e.Munmap(pg, pageSize); !errors.Is(err, ErrOutsideArena) {
			t.Errorf("munmap of Go memory: %v", err)
		}
		if err := e.Madvise(pg, pageSize, script.AdvDontneed); !errors.Is(err, ErrOutsideArena) {
			t.Errorf("madvise of Go memory: %v", err)
		}
		if _, _, err := e.Mmap(pg, pageSize, 0, script.FlagPrivate|script.FlagFixed); !errors.Is(err, ErrOutsideArena) {
			t.Errorf("mmap fixed over Go memory: %v", err)
		}
		if _, _, err := e.Mremap(0, pageSize, pageSize, true, true, pg, false); !errors.Is(err, ErrOutsideArena) {
			t.Errorf("mremap onto Go memory: %v", err)
		}
	}
	// A madvise to the top of the address space would zap the runtime.
	if err := e.Madvise(0, 0x7ffffffff000-e.base, script.AdvDontneed); !errors.Is(err, ErrOutsideArena) {
		t.Errorf("huge madvise: %v", err)
	}
	// Rejected up front by the kernel, so answered for real.
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"munmap beyond TASK_SIZE", e.Munmap(0, 0x7ffffffffffff000), syscall.EINVAL},
		{"munmap wrapping", e.Munmap(0, ^uint64(0xfff)), syscall.EINVAL},
		{"madvise wrapping", e.Madvise(0, ^uint64(0), script.AdvDontneed), syscall.EINVAL},
		{"mprotect in a hole", e.Mprotect(0, 0x7ffffffffffff000, 0), syscall.ENOMEM},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

// The fault kinds the kernel sends, told apart after the fact.
func TestFaultKinds(t *testing.T) {
	e := newTestEngine(t)
	rw := script.ProtRead | script.ProtWrite
	run := func(s string) string {
		t.Helper()
		op, err := script.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out, err := script.Exec(e, op)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range [][2]string{
		{"mmap 0x0 0x4000 rw- private,fixed", "0 @+0x0"},
		{"madvise 0x1000 0x1000 guard_install", "0"},
		{"touch 0x1000", "EFAULT SEGV_MAPERR"},
		{"read 0x1000", "EFAULT SEGV_MAPERR"},
		{"mprotect 0x0 0x4000 ---", "0"},
		{"read 0x1000", "EFAULT SEGV_ACCERR"}, // protection is checked before the PTE
		{"mprotect 0x0 0x4000 --x", "0"},
		{"read 0x0", "0 val=0x00"}, // exec implies read on x86
		{"touch 0x0", "EFAULT SEGV_ACCERR"},
		{"mprotect 0x0 0x4000 -w-", "0"},
		{"read 0x2000", "0 val=0x00"}, // write implies read
		{"mmap 0x10000 0x1000 rw- shared,fixed", "0 @+0x10000"},
		{"mremap 0x10000 0x1000 0x3000", "0 @+0x10000"},
		{"touch 0x10000 0x5", "0"},
		{"touch 0x11000", "SIGBUS"}, // shmem past its size
		{"read 0x12000", "SIGBUS"},
		{"read 0x100000", "EFAULT SEGV_MAPERR"},
		{"read -0x40000000000", "EFAULT SEGV_MAPERR"},
		// A growsdown VMA grows down to a touch below it, but not within
		// stack_guard_gap (256 pages) of an accessible VMA below.
		{"mmap 0x400000 0x1000 rw- private,fixed,growsdown", "0 @+0x400000"},
		{"touch 0x3fe000", "0"},
		{"mmap 0x200000 0x1000 rw- private,fixed", "0 @+0x200000"},
		{"touch 0x2ff000", "EFAULT SEGV_MAPERR"},
	} {
		if got := run(tc[0]); got != tc[0]+" -> "+tc[1] {
			t.Errorf("got %q, want %q", got, tc[0]+" -> "+tc[1])
		}
	}
	areas, _ := e.Maps()
	if !slices.Contains(areas, script.Area{Start: 0x3fe000, End: 0x401000, Prot: rw}) {
		t.Errorf("growsdown VMA did not grow: %v", areas)
	}
}
