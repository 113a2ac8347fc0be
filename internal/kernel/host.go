package kernel

import (
	"fmt"
	"strings"
)

// Host is what the kernel engine found out about the kernel it runs on:
// the settings that change the answers a script gets. Hosts differ in them
// (a kernel may never map the shared zero page; transparent huge pages,
// overcommit and limits are configurable), so every comparison of vmspace
// with the live kernel first probes the host, configures vmspace like it
// (see package replay's HostOptions), and skips, naming the setting, only
// what vmspace cannot match (Unmatched).
type Host struct {
	// Release is the kernel release (/proc/sys/kernel/osrelease).
	Release string

	// ZeroPage reports whether a read fault on never-written private
	// anonymous memory maps the shared zero page. It is false on a
	// kernel that forbids the zero page (mm_forbids_zeropage) or was
	// booted without it: there such a read allocates a page and gives
	// the area an anon_vma, which changes later merges. Found by
	// read-faulting two fresh private pages (ZeroPageHow says how it was
	// decided).
	ZeroPage    bool
	ZeroPageHow string

	// THP is the selected value of transparent_hugepage/enabled ("" if
	// the kernel has no THP), THPSizes the per-size (mTHP) settings that
	// are not "never", as "hugepages-64kB=inherit", and ShmemTHP the
	// selected value of shmem_enabled. vmspace has no huge pages; where
	// any of them could give this process a huge page, the engine turns
	// THP off for itself with PR_SET_THP_DISABLE (THPDisabled), which
	// changes no mapping's flags, only what a fault allocates.
	THP         string
	THPSizes    []string
	ShmemTHP    string
	THPDisabled bool

	// Overcommit is vm.overcommit_memory: 0 heuristic, 1 always, 2
	// never. Under 2 the kernel ignores MAP_NORESERVE (vmspace matches
	// that); commit limits are not modelled, and no script comes near
	// one.
	Overcommit int

	// MaxMapCount is vm.max_map_count.
	MaxMapCount int

	// StackLimit is RLIMIT_STACK's soft limit (^uint64(0) when
	// unlimited), which bounds stack growth.
	StackLimit uint64

	// StackGuardGap is the gap kept below a growsdown area, in bytes
	// (the stack_guard_gap= boot parameter, 256 pages by default).
	StackGuardGap uint64

	// TaskSize is the top of the user address space (TASK_SIZE).
	TaskSize uint64
}

// DefaultTaskSize is x86-64's TASK_SIZE with 4-level page tables, the
// top of the space vmspace models by default.
const DefaultTaskSize = 1<<47 - pageSizeConst

const pageSizeConst = 4096

// String is the host in one line, for a log or stderr.
func (h Host) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "host: Linux %s; ", h.Release)
	if h.ZeroPage {
		b.WriteString("zero page: yes")
	} else {
		b.WriteString("zero page: NO (read faults allocate)")
	}
	fmt.Fprintf(&b, " [%s]; THP enabled=%s", h.ZeroPageHow, orNone(h.THP))
	if len(h.THPSizes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(h.THPSizes, " "))
	}
	fmt.Fprintf(&b, " shmem=%s", orNone(h.ShmemTHP))
	if h.THPDisabled {
		b.WriteString(", off for this process (PR_SET_THP_DISABLE)")
	}
	fmt.Fprintf(&b, "; overcommit_memory=%d; max_map_count=%d; RLIMIT_STACK=%s; stack_guard_gap=%d pages; TASK_SIZE=%#x",
		h.Overcommit, h.MaxMapCount, limitString(h.StackLimit), h.StackGuardGap/pageSizeConst, h.TaskSize)
	return b.String()
}

// Unmatched lists the host's settings that vmspace cannot be configured
// to match, one message each naming the setting. A comparison with the
// live kernel skips, with these messages, when the list is not empty.
func (h Host) Unmatched() []string {
	var out []string
	if h.TaskSize != DefaultTaskSize {
		out = append(out, fmt.Sprintf("TASK_SIZE is %#x (5-level page tables?); vmspace's comparisons model x86-64's 4-level %#x", h.TaskSize, uint64(DefaultTaskSize)))
	}
	if h.THPMayApply() && !h.THPDisabled {
		out = append(out, "transparent huge pages may back this process's anonymous memory (transparent_hugepage/enabled="+h.THP+") and PR_SET_THP_DISABLE failed; vmspace has no huge pages")
	}
	return out
}

// THPMayApply reports whether some THP setting could give an anonymous
// or shared-anonymous fault of this process a huge page: the top-level
// or any per-size setting other than never (madvise counts: scripts can
// advise hugepage).
func (h Host) THPMayApply() bool {
	return (h.THP != "" && h.THP != "never") || len(h.THPSizes) > 0 ||
		(h.ShmemTHP != "" && h.ShmemTHP != "never" && h.ShmemTHP != "deny")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func limitString(n uint64) string {
	if n == ^uint64(0) {
		return "unlimited"
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
