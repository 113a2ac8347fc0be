//go:build linux && (amd64 || arm64)

package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ProbeHost finds out how the kernel this process runs on behaves (see
// Host). It probes once per process and returns the same answer after.
// When transparent huge pages could back this process's anonymous memory,
// it also turns them off for the process (PR_SET_THP_DISABLE), so that the
// kernel engine's faults allocate single pages as vmspace's do; New calls
// it for that reason.
func ProbeHost() (Host, error) { return probeOnce() }

var probeOnce = sync.OnceValues(probeHost)

func probeHost() (Host, error) {
	var h Host
	h.Release = strings.TrimSpace(readText("/proc/sys/kernel/osrelease"))
	var err error
	if h.ZeroPage, h.ZeroPageHow, err = probeZeroPage(); err != nil {
		return h, err
	}
	const thp = "/sys/kernel/mm/transparent_hugepage/"
	h.THP = selected(readText(thp + "enabled"))
	h.ShmemTHP = selected(readText(thp + "shmem_enabled"))
	sizes, _ := filepath.Glob(thp + "hugepages-*/enabled")
	for _, f := range sizes {
		v := selected(readText(f))
		if v == "never" || v == "" || (v == "inherit" && (h.THP == "never" || h.THP == "")) {
			continue
		}
		h.THPSizes = append(h.THPSizes, filepath.Base(filepath.Dir(f))+"="+v)
	}
	if h.THPMayApply() {
		// prctl(PR_SET_THP_DISABLE, 1): no huge page of any order for
		// this process, whatever the system settings and madvise say.
		h.THPDisabled = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0) == nil
	}
	h.Overcommit = readInt("/proc/sys/vm/overcommit_memory", 0)
	h.MaxMapCount = readInt("/proc/sys/vm/max_map_count", 65530)
	var rl unix.Rlimit
	h.StackLimit = 8 << 20
	if unix.Getrlimit(unix.RLIMIT_STACK, &rl) == nil {
		h.StackLimit = rl.Cur // RLIM_INFINITY is ^0, as vmspace's unlimited
	}
	h.StackGuardGap = 256 * pageSize
	for _, f := range strings.Fields(readText("/proc/cmdline")) {
		if v, ok := strings.CutPrefix(f, "stack_guard_gap="); ok {
			if n, err := strconv.ParseUint(v, 0, 64); err == nil {
				h.StackGuardGap = n * pageSize
			}
		}
	}
	h.TaskSize = probeTaskSize()
	return h, nil
}

// probeZeroPage read-faults two fresh private anonymous pages and asks the
// kernel what it mapped. With the zero page both map the same frame, which
// the kernel does not count in Rss; without it each gets a frame of its own.
// The frames are compared in /proc/self/pagemap where it shows them (it
// hides frame numbers from a process without CAP_SYS_ADMIN); otherwise the
// mapping's Rss in /proc/self/smaps decides.
func probeZeroPage() (zero bool, how string, err error) {
	p, err := unix.MmapPtr(-1, 0, nil, 2*pageSize, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return false, "", fmt.Errorf("kernel: zero-page probe: mmap: %w", err)
	}
	defer unix.MunmapPtr(p, 2*pageSize)
	// The read faults are the probe. Their values are used (fresh
	// anonymous memory reads as zero), so they cannot be optimized away.
	if *(*byte)(p)|*(*byte)(unsafe.Add(p, pageSize)) != 0 {
		return false, "", fmt.Errorf("kernel: zero-page probe: fresh anonymous memory is not zero")
	}
	addr := uint64(uintptr(p))

	if pfn0, pfn1, ok := pagemapFrames(addr); ok && pfn0 != 0 && pfn1 != 0 {
		return pfn0 == pfn1, "pagemap: both reads map frame " + pfnWord(pfn0 == pfn1, pfn0, pfn1), nil
	}
	rss, err := smapsRss(addr)
	if err != nil {
		return false, "", fmt.Errorf("kernel: zero-page probe: %w", err)
	}
	return rss == 0, fmt.Sprintf("smaps: Rss %d kB after reading two pages", rss), nil
}

func pfnWord(same bool, a, b uint64) string {
	if same {
		return fmt.Sprintf("%#x", a)
	}
	return fmt.Sprintf("%#x and %#x", a, b)
}

// pagemapFrames returns the frame numbers of the pages at addr and
// addr+pageSize; ok is false when either is not present.
func pagemapFrames(addr uint64) (pfn0, pfn1 uint64, ok bool) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	var buf [16]byte
	if _, err := f.ReadAt(buf[:], int64(addr/pageSize*8)); err != nil {
		return 0, 0, false
	}
	e0, e1 := binary.LittleEndian.Uint64(buf[:8]), binary.LittleEndian.Uint64(buf[8:])
	const present, pfnMask = 1 << 63, 1<<55 - 1
	if e0&present == 0 || e1&present == 0 {
		return 0, 0, false
	}
	return e0 & pfnMask, e1 & pfnMask, true
}

// smapsRss returns the Rss, in kB, of the mapping starting at addr.
func smapsRss(addr uint64) (int, error) {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	head := []byte(strconv.FormatUint(addr, 16) + "-")
	in := false
	for _, line := range bytes.Split(data, []byte("\n")) {
		// A mapping's header starts with its lower-case hex range; its
		// fields ("Rss:", "VmFlags:") start with a capital letter.
		if len(line) > 0 && ('0' <= line[0] && line[0] <= '9' || 'a' <= line[0] && line[0] <= 'f') {
			in = bytes.HasPrefix(line, head)
			continue
		}
		if in {
			if v, ok := bytes.CutPrefix(line, []byte("Rss:")); ok {
				f := strings.Fields(string(v))
				if len(f) == 0 {
					break
				}
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, errors.New("no Rss line for the probe's mapping in /proc/self/smaps")
}

// selected returns the bracketed choice of a sysfs multiple-choice file
// ("always [madvise] never" gives "madvise"), or the whole trimmed text.
func selected(s string) string {
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return strings.TrimSpace(s)
}

func readText(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}

func readInt(path string, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(readText(path)))
	if err != nil {
		return def
	}
	return n
}
