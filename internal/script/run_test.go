package script

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// fakeEngine answers every call from canned results keyed by the first
// argument, and records the calls it saw.
type fakeEngine struct {
	calls []string
	errs  map[uint64]error
	areas []Area
}

func (f *fakeEngine) rec(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeEngine) Mmap(off, length uint64, prot Prot, flags MapFlags) (uint64, bool, error) {
	f.rec("mmap %#x %#x %v %v", off, length, prot, flags)
	return off, flags&FlagFixed != 0, f.errs[off]
}

func (f *fakeEngine) Munmap(off, length uint64) error {
	f.rec("munmap %#x %#x", off, length)
	return f.errs[off]
}

func (f *fakeEngine) Mprotect(off, length uint64, prot Prot) error {
	f.rec("mprotect %#x %#x %v", off, length, prot)
	return f.errs[off]
}

func (f *fakeEngine) Mremap(off, oldLen, newLen uint64, mayMove, fixed bool, newOff uint64, dontUnmap bool) (uint64, bool, error) {
	f.rec("mremap %#x %#x %#x %v %v %#x %v", off, oldLen, newLen, mayMove, fixed, newOff, dontUnmap)
	if !fixed {
		return 0, !mayMove, f.errs[off]
	}
	return newOff, true, f.errs[off]
}

func (f *fakeEngine) Madvise(off, length uint64, advice Advice) error {
	f.rec("madvise %#x %#x %v", off, length, advice)
	return f.errs[off]
}

func (f *fakeEngine) Touch(off uint64, val byte) error {
	f.rec("touch %#x %#x", off, val)
	return f.errs[off]
}

func (f *fakeEngine) Read(off uint64) (byte, error) {
	f.rec("read %#x", off)
	return byte(off), f.errs[off]
}

func (f *fakeEngine) Mincore(off, length uint64) ([]bool, error) {
	f.rec("mincore %#x %#x", off, length)
	pages := make([]bool, length/0x1000)
	for i := range pages {
		pages[i] = i%2 == 0
	}
	return pages, f.errs[off]
}

func (f *fakeEngine) Maps() ([]Area, error) { f.rec("maps"); return f.areas, nil }

func TestRunFormats(t *testing.T) {
	e := &fakeEngine{errs: map[uint64]error{
		0x1000: syscall.EINVAL,
		0x2000: fmt.Errorf("wrapped: %w", syscall.EEXIST),
		0x3000: ErrSegvMaperr,
		0x4000: ErrSegvAccerr,
		0x5000: ErrSigbus,
		0x6000: syscall.Errno(200),
	}}
	script := strings.Join([]string{
		"  # comment kept  ",
		"",
		"mmap 0x0 0x3000 rw- private,anon,fixed",
		"mmap 0x10 0x1000 r-- private",
		"mmap 0x2000 0x1000 r-- private,noreplace",
		"munmap 0x0 0x1000",
		"munmap 0x1000 0x1000",
		"mprotect 0x0 0 ---",
		"mremap 0x0 0x1000 0x2000",
		"mremap 0x0 0x1000 0x2000 maymove",
		"mremap 0x0 0x1000 0x2000 fixed 0x100000",
		"madvise 0x0 0x1000 guard_install",
		"touch 0x0 0x22",
		"touch 0x3000",
		"touch 0x4000",
		"touch 0x5000",
		"read 0xa",
		"read 0x4000",
		"mincore 0x0 0x3000",
		"mincore 0x0 0",
		"mincore 0x6000 0x1000",
		"maps",
		"bogus line",
	}, "\n") // no final newline
	var out strings.Builder
	if err := Run(e, strings.NewReader(script), &out); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"# comment kept",
		"",
		"mmap 0x0 0x3000 rw- private,anon,fixed -> 0 @+0x0",
		"mmap 0x10 0x1000 r-- private -> 0 @outside",
		"mmap 0x2000 0x1000 r-- private,noreplace -> EEXIST",
		"munmap 0x0 0x1000 -> 0",
		"munmap 0x1000 0x1000 -> EINVAL",
		"mprotect 0x0 0 --- -> 0",
		"mremap 0x0 0x1000 0x2000 -> 0 @+0x0",
		"mremap 0x0 0x1000 0x2000 maymove -> 0 @outside",
		"mremap 0x0 0x1000 0x2000 fixed 0x100000 -> 0 @+0x100000",
		"madvise 0x0 0x1000 guard_install -> 0",
		"touch 0x0 0x22 -> 0",
		"touch 0x3000 -> EFAULT SEGV_MAPERR",
		"touch 0x4000 -> EFAULT SEGV_ACCERR",
		"touch 0x5000 -> SIGBUS",
		"read 0xa -> 0 val=0x0a",
		"read 0x4000 -> EFAULT SEGV_ACCERR",
		"mincore 0x0 0x3000 -> 0 101",
		"mincore 0x0 0 -> 0 ",
		"mincore 0x6000 0x1000 -> ERRNO200",
		"maps",
		"  (none)",
		"bogus line -> PARSE_ERROR",
	}, "\n") + "\n"
	if out.String() != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", out.String(), want)
	}
	wantCalls := "mremap 0x0 0x1000 0x2000 true true 0x100000 false"
	if got := e.calls[8]; got != wantCalls {
		t.Errorf("call %q, want %q", got, wantCalls)
	}
	if got := e.calls[10]; got != "touch 0x0 0x22" {
		t.Errorf("call %q", got)
	}
}

func TestRunMaps(t *testing.T) {
	e := &fakeEngine{areas: []Area{
		{Start: -0x1000, End: 0x1000, Prot: ProtRead | ProtWrite},
		{Start: 0x1000, End: 0xab000, Prot: ProtRead, Shared: true},
		{Start: 0x3fff0000, End: 0x40010000, Prot: ProtRead | ProtWrite | ProtExec},
		{Start: 0xb0000, End: 0xb1000},
	}}
	var out strings.Builder
	if err := Run(e, strings.NewReader("maps\n"), &out); err != nil {
		t.Fatal(err)
	}
	want := "maps\n  -0x1000-0x1000 rw-p\n  0x1000-0xab000 r--s\n  0x3fff0000-0x40010000 rwxp\n  0xb0000-0xb1000 ---p\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// An error that is neither an errno nor a fault stops the run.
func TestRunEngineFailure(t *testing.T) {
	boom := errors.New("boom")
	e := &fakeEngine{errs: map[uint64]error{0x1000: boom}}
	var out strings.Builder
	err := Run(e, strings.NewReader("munmap 0 0x1000\nmunmap 0x1000 0x1000\nmaps\n"), &out)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if out.String() != "munmap 0 0x1000 -> 0\n" {
		t.Errorf("partial transcript %q", out.String())
	}
}

func TestErrnoName(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "0"},
		{syscall.ENOMEM, "ENOMEM"},
		{syscall.EAGAIN, "EAGAIN"},
		{syscall.EPERM, "EPERM"},
		{syscall.EBUSY, "EBUSY"},
		{syscall.EFAULT, "EFAULT"},
		{fmt.Errorf("x: %w", syscall.EEXIST), "EEXIST"},
		{fmt.Errorf("x: %w", ErrSegvAccerr), "EFAULT SEGV_ACCERR"},
		{ErrSigbus, "SIGBUS"},
		{errors.New("other"), ""},
	} {
		if got := ErrnoName(tc.err); got != tc.want {
			t.Errorf("ErrnoName(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if !errors.Is(ErrSegvMaperr, syscall.EFAULT) || errors.Is(ErrSigbus, syscall.EFAULT) {
		t.Error("fault errors and EFAULT")
	}
}

func (f *fakeEngine) File(name string, size uint64, mode FileMode) error {
	f.rec("file %s %#x %d", name, size, mode)
	return nil
}

func (f *fakeEngine) MmapFile(off, length uint64, prot Prot, flags MapFlags, name string, foff uint64) (uint64, bool, error) {
	f.rec("mmapfile %#x %#x %s %s %s %#x", off, length, prot, flags, name, foff)
	return off, true, f.errs[off]
}

func (f *fakeEngine) Ftruncate(name string, size uint64) error {
	f.rec("ftruncate %s %#x", name, size)
	return nil
}

func (f *fakeEngine) Heap(off uint64) error { f.rec("heap %#x", off); return nil }

func (f *fakeEngine) Brk(off uint64) (uint64, error) { f.rec("brk %#x", off); return off, f.errs[off] }
