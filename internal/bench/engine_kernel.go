package bench

// kernelTarget runs the workload on this process's own address space:
// F's faults are real first-touch writes, drop is madvise(MADV_DONTNEED),
// W's calls are real mmap, munmap and mprotect.
type kernelTarget struct {
	r *KernelRegion
}

// The engine keeps one region for the process: finding one costs a few
// syscalls, and every run leaves it empty again.
var engineRegion *KernelRegion

func openKernel(*Config) (target, error) {
	if engineRegion == nil {
		r, err := NewKernelRegion(regionLen)
		if err != nil {
			return nil, err
		}
		engineRegion = r
	}
	t := &kernelTarget{engineRegion}
	if err := t.r.Map(fOff, fLen, protRW); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *kernelTarget) mapFixed(off, length uint64, prot uint32) error {
	return t.r.Map(off, length, int(prot))
}

func (t *kernelTarget) unmap(off, length uint64) error { return t.r.Unmap(off, length) }

func (t *kernelTarget) protect(off, length uint64, prot uint32) error {
	return t.r.Protect(off, length, int(prot))
}

// touch writes one byte: on a page that is not present this is a real
// page fault, which the kernel resolves under F's VMA lock.
func (t *kernelTarget) touch(i int) error {
	t.r.Touch(fOff + uint64(i)*pageSize)
	return nil
}

func (t *kernelTarget) drop() error { return t.r.DontNeed(fOff, fLen) }

func (t *kernelTarget) dropMethod() string { return "madvise" }

func (t *kernelTarget) counters() (Counters, bool) { return Counters{}, false }

func (t *kernelTarget) frames() (Frames, bool) { return Frames{}, false }

// close unmaps everything the run left in the region (F's area and
// whatever W had mapped); the region itself stays reserved for the next
// run.
func (t *kernelTarget) close() error { return t.r.Unmap(0, regionLen) }
