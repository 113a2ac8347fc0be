package bench

import "github.com/vmspace/vmspace/internal/mm"

// vmRegion is the vmspace engines' region base: the kernel engine's kind of
// address, so that both index the same numbers.
const vmRegion = 0x100000000000

// vmTarget runs the workload on a vmspace space. It uses internal/mm
// directly; the root package's methods only forward to it.
type vmTarget struct {
	s *mm.Space
}

func openPerArea(cfg *Config) (target, error)    { return openVM(cfg, mm.PerArea) }
func openWholeSpace(cfg *Config) (target, error) { return openVM(cfg, mm.WholeSpace) }

func openVM(cfg *Config, mode mm.LockMode) (target, error) {
	c := mm.DefaultConfig()
	c.Mode = mode
	c.Recycle = !cfg.NoRecycle
	s, err := mm.New(c)
	if err != nil {
		return nil, err
	}
	return newVMTarget(cfg, s)
}

// newVMTarget maps the background areas and F's area in s.
func newVMTarget(cfg *Config, s *mm.Space) (target, error) {
	t := &vmTarget{s: s}
	// Background areas, so that lookups walk a tree of a process's size:
	// churnPages each, with a gap of as many so that they do not merge.
	for i := range cfg.Areas {
		off := backgroundOff + uint64(i)*2*churnPages*pageSize
		if err := t.mapFixed(off, churnPages*pageSize, protRW); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := t.mapFixed(fOff, fLen, protRW); err != nil {
		s.Close()
		return nil, err
	}
	return t, nil
}

func (t *vmTarget) mapFixed(off, length uint64, prot uint32) error {
	_, err := t.s.Map(vmRegion+off, length, mm.Prot(prot), mm.MapPrivate|mm.MapAnonymous|mm.MapFixed)
	return err
}

func (t *vmTarget) unmap(off, length uint64) error { return t.s.Unmap(vmRegion+off, length) }

func (t *vmTarget) protect(off, length uint64, prot uint32) error {
	return t.s.Protect(vmRegion+off, length, mm.Prot(prot))
}

func (t *vmTarget) touch(i int) error {
	return t.s.Fault(vmRegion+fOff+uint64(i)*pageSize, mm.Write)
}

func (t *vmTarget) drop() error {
	return t.s.Advise(vmRegion+fOff, fLen, mm.AdviseDontNeed)
}

func (t *vmTarget) dropMethod() string { return "advise" }

func (t *vmTarget) counters() (Counters, bool) {
	st := t.s.Stats()
	return Counters{st.Success, st.Abort, st.Retry, st.Miss, st.Fallback, st.SpaceLocked}, true
}

func (t *vmTarget) frames() (Frames, bool) {
	st := t.s.FrameStats()
	return Frames{st.Frames, st.Bytes, st.Free, st.Held}, true
}

func (t *vmTarget) close() error {
	t.s.Close()
	return nil
}
