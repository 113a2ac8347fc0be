//go:build linux && (amd64 || arm64)

package kernel

import (
	"runtime"
	"runtime/debug"
	"unsafe"

	"github.com/vmspace/vmspace/internal/script"
)

// Touch writes val at off through a real store, as the oracle does.
func (e *Engine) Touch(off uint64, val byte) error {
	addr := e.base + off
	if err := e.checkAccess(addr); err != nil {
		return err
	}
	if !poke((*byte)(unsafe.Add(e.basePtr, int(off))), val) {
		return nil
	}
	return e.classify(addr, true)
}

// Read reads the byte at off through a real load.
func (e *Engine) Read(off uint64) (byte, error) {
	addr := e.base + off
	if err := e.checkAccess(addr); err != nil {
		return 0, err
	}
	v, faulted := peek((*byte)(unsafe.Add(e.basePtr, int(off))))
	if !faulted {
		return v, nil
	}
	return 0, e.classify(addr, false)
}

// poke stores v at p; a fault becomes faulted instead of a crash. With
// SetPanicOnFault the runtime turns the SIGSEGV or SIGBUS of an access to
// non-Go memory into a panic, recovered here.
//
//go:noinline
func poke(p *byte, v byte) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { faulted = recoverFault(recover()) }()
	*p = v
	return false
}

// peek loads the byte at p, like poke.
//
//go:noinline
func peek(p *byte) (v byte, faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { faulted = recoverFault(recover()) }()
	return *p, false
}

// recoverFault tells a recovered fault panic from no panic, and passes any
// other panic on.
func recoverFault(r any) bool {
	if r == nil {
		return false
	}
	if _, ok := r.(runtime.Error); !ok {
		panic(r)
	}
	return true
}

// classify tells which signal the kernel sent for a faulted access. The
// runtime's panic does not carry the signal or its si_code, so the answer
// is derived from the state right after the fault, following the x86
// fault path (do_user_addr_fault):
//   - no VMA covers the address (a growsdown VMA that could not grow
//     down to it included): SIGSEGV, SEGV_MAPERR;
//   - the VMA forbids the access (access_error: a write needs VM_WRITE, a
//     read any of VM_READ, VM_WRITE, VM_EXEC): SEGV_ACCERR, checked
//     before the page tables are looked at;
//   - a guard-region marker in the PTE (MADV_GUARD_INSTALL): the fault
//     handler returns VM_FAULT_SIGSEGV, sent as SEGV_MAPERR;
//   - an exec-only page that refused a read: a protection-key fault
//     (SEGV_PKUERR on CPUs with PKU), reported as SEGV_ACCERR;
//   - otherwise the access was allowed and the fault handler failed with
//     VM_FAULT_SIGBUS, as shmem does past the end of its object.
func (e *Engine) classify(addr uint64, write bool) error {
	vmas, err := readMaps()
	if err != nil {
		return err
	}
	v, ok := covering(vmas, addr)
	if !ok {
		return script.ErrSegvMaperr
	}
	if write && v.prot&script.ProtWrite == 0 || !write && v.prot == 0 {
		return script.ErrSegvAccerr
	}
	guard, err := isGuard(addr)
	if err != nil {
		return err
	}
	if guard {
		return script.ErrSegvMaperr
	}
	if !write && v.prot&(script.ProtRead|script.ProtWrite) == 0 {
		return script.ErrSegvAccerr
	}
	return script.ErrSigbus
}

// Maps lists the VMAs overlapping the region, as offsets from the base.
func (e *Engine) Maps() ([]script.Area, error) {
	vmas, err := readMaps()
	if err != nil {
		return nil, err
	}
	var out []script.Area
	for _, v := range vmas {
		if v.start < e.base+RegionSize && v.end > e.base {
			a := script.Area{
				Start:  int64(v.start - e.base),
				End:    int64(v.end - e.base),
				Prot:   v.prot,
				Shared: v.shared,
				Heap:   v.name == "[heap]",
			}
			if name := e.fileName(v); name != "" && v.ino != 0 {
				a.File, a.FileOff = name, v.offset
			}
			out = append(out, a)
		}
	}
	return out, nil
}
