package uffd_test

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/vmspace/vmspace"
	"github.com/vmspace/vmspace/uffd"
)

// TestLocalWindow: a window in this process, touched only through
// MADV_POPULATE_READ/WRITE (system calls: the Go trap does not apply).
// The space's own Advise, Protect, Unmap and Remap are applied to the real
// memory inside their write sessions (Memory Local).
func TestLocalWindow(t *testing.T) {
	defer goleak.VerifyNone(t)
	fd, _, err := uffd.Open(0, uffd.FeatureEventRemove|uffd.FeatureEventUnmap|uffd.FeatureEventRemap|uffd.FeaturePoison|uffd.FeatureMove)
	if err != nil {
		t.Skipf("userfaultfd not permitted here: %v", err)
	}
	const pages = 16
	mem, err := unix.Mmap(-1, 0, pages*vmspace.PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	host := uint64(uintptr(unsafe.Pointer(&mem[0])))
	if err := uffd.Register(fd, uintptr(host), uintptr(len(mem)), uffd.RegisterMissing); err != nil {
		t.Fatal(err)
	}
	s, _ := vmspace.New()
	defer s.Close()
	const base = 0x40000000 // the window shows at another space address
	if _, err := s.Map(base, pages*vmspace.PageSize, vmspace.ProtRead|vmspace.ProtWrite, vmspace.MapPrivate|vmspace.MapFixed); err != nil {
		t.Fatal(err)
	}
	img := image(pages)
	h, err := uffd.New(s, fd, uffd.Config{
		Regions: []uffd.Region{{Host: host, Size: uint64(len(mem)), Base: base, Source: bytes.NewReader(img)}},
		Memory:  uffd.Local{},
		Logf:    t.Logf,
		// A collection while the populating goroutine waits for this
		// fill: it completes because that goroutine is in a system
		// call, not in a CPU trap (see TestGoTrap for the trap).
		BeforeFill: func(uint64) { runtime.GC() },
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); h.Serve() }()
	defer func() { h.Close(); wg.Wait() }()

	page := func(i int) []byte { return mem[i*vmspace.PageSize : (i+1)*vmspace.PageSize] }
	pop := func(i int, write bool) error {
		adv := unix.MADV_POPULATE_READ
		if write {
			adv = unix.MADV_POPULATE_WRITE
		}
		return unix.Madvise(page(i), adv)
	}
	sp := func(i int) uint64 { return base + uint64(i)*vmspace.PageSize }
	resident := func(i int) bool {
		v := make([]byte, 1)
		_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&page(i)[0])), vmspace.PageSize, uintptr(unsafe.Pointer(&v[0])))
		if e != 0 {
			t.Fatal(e)
		}
		return v[0]&1 != 0
	}

	if err := pop(0, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page(0), img[:vmspace.PageSize]) {
		t.Fatal("page 0 is not the image's")
	}
	// The space drops page 0: the host page goes in the same session.
	if err := s.Advise(sp(0), vmspace.PageSize, vmspace.AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	if resident(0) {
		t.Fatal("page 0 still resident after the space's MADV_DONTNEED")
	}
	if err := pop(0, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page(0), make([]byte, vmspace.PageSize)) {
		t.Fatal("dropped page 0 does not read back as zeros")
	}
	// Dropped by the space before its first touch: zeros too.
	if err := s.Advise(sp(6), vmspace.PageSize, vmspace.AdviseDontNeed); err != nil {
		t.Fatal(err)
	}
	if err := pop(6, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page(6), make([]byte, vmspace.PageSize)) {
		t.Fatal("page 6 dropped before its first touch does not read back as zeros")
	}
	// Read-only through the space: the kernel refuses the write itself
	// (host protection in sync): EFAULT, a SIGSEGV for a load or store.
	if err := pop(1, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Protect(sp(1), vmspace.PageSize, vmspace.ProtRead); err != nil {
		t.Fatal(err)
	}
	// (MADV_POPULATE_WRITE answers EINVAL on a VMA without write
	// permission, where a store would get SIGSEGV.)
	if err := pop(1, true); err != unix.EINVAL && err != unix.EFAULT {
		t.Fatalf("write to a page made read-only: %v, want the kernel's refusal", err)
	}
	// Unmapped through the space: present page gone, no access.
	if err := pop(2, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmap(sp(2), vmspace.PageSize); err != nil {
		t.Fatal(err)
	}
	if err := pop(2, false); err != unix.EINVAL && err != unix.EFAULT {
		t.Fatalf("read of a page unmapped in the space: %v, want the kernel's refusal", err)
	}
	if st := h.Stats(); st.Poisons != 0 {
		t.Fatalf("the kernel must refuse these accesses itself (host protection), the handler poisoned %d", st.Poisons)
	}
	// Moved through the space: the installed page moves with its area.
	if err := pop(3, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remap(sp(3), vmspace.PageSize, vmspace.PageSize, vmspace.RemapMayMove|vmspace.RemapFixed, sp(8)); err != nil {
		t.Fatal(err)
	}
	if !resident(8) || resident(3) {
		t.Fatalf("after Remap: page 8 resident %v, page 3 resident %v", resident(8), resident(3))
	}
	if !bytes.Equal(page(8), img[3*vmspace.PageSize:4*vmspace.PageSize]) {
		t.Fatal("page moved to 8 is not the image's page 3")
	}
	// A page never touched that moves keeps its image contents.
	if _, err := s.Remap(sp(4), vmspace.PageSize, vmspace.PageSize, vmspace.RemapMayMove|vmspace.RemapFixed, sp(9)); err != nil {
		t.Fatal(err)
	}
	if err := pop(9, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page(9), img[4*vmspace.PageSize:5*vmspace.PageSize]) {
		t.Fatal("page 9 (moved before its first touch) is not the image's page 4")
	}
	// Space.ReadAt and WriteAt go to the window's memory (system calls,
	// so no Go trap): a write to a page never touched lands on the
	// image's page, which the handler installs on the way.
	if _, err := s.WriteAt([]byte("space"), sp(10)+4); err != nil {
		t.Fatal(err)
	}
	want10 := append([]byte(nil), img[10*vmspace.PageSize:11*vmspace.PageSize]...)
	copy(want10[4:], "space")
	if !resident(10) || !bytes.Equal(page(10), want10) {
		t.Fatal("page 10 after Space.WriteAt: not the image's page with the bytes written")
	}
	got := make([]byte, vmspace.PageSize)
	if _, err := s.ReadAt(got, sp(8)); err != nil || !bytes.Equal(got, img[3*vmspace.PageSize:4*vmspace.PageSize]) {
		t.Fatalf("Space.ReadAt of the moved page 8: %v, not the image's page 3", err)
	}
	st := h.Stats()
	t.Logf("stats: %+v", st)
	if st.SelfEvents == 0 || st.Removes != 0 {
		t.Fatalf("the handler's own zaps must not be mirrored: %+v", st)
	}
}
