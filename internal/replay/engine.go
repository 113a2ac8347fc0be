// Package replay runs oracle scripts (package script) against a vmspace
// space, so that its answers can be compared byte for byte with the
// kernel's (package kernel).
package replay

import (
	"errors"
	"syscall"

	"github.com/vmspace/vmspace/internal/kernel"
	"github.com/vmspace/vmspace/internal/mm"
	"github.com/vmspace/vmspace/internal/script"
)

// Base is where the script's 1 GiB region starts in the space: low in a
// Linux-sized space, so that the top-down placement of hint-less mappings
// lands outside the region, as it does on the kernel.
const (
	Base       = 0x100000000
	RegionSize = 1 << 30
)

// Engine is a script.Engine over a space.
type Engine struct {
	S *mm.Space
}

// New returns an engine over a new space shaped like a Linux process with
// the usual settings: x86-64's user range, the zero page, vm.max_map_count's
// default of 65530 areas, an 8 MiB RLIMIT_STACK, a 256-page stack guard gap.
func New(mode mm.LockMode, recycle bool) (*Engine, error) {
	return NewWith(Options{Mode: mode, Recycle: recycle})
}

// Options are the settings of a replay engine's space. The zero value is
// the usual Linux host of New, in per-area mode without recycling.
type Options struct {
	Mode    mm.LockMode
	Recycle bool
	// NoZeroPage answers as a host that never maps the zero page.
	NoZeroPage bool
	// OvercommitNever answers as vm.overcommit_memory=2.
	OvercommitNever bool
	// MaxAreas is vm.max_map_count (0: 65530).
	MaxAreas int
	// StackLimit is RLIMIT_STACK (0: 8 MiB), StackGuardGap the stack
	// guard gap in bytes (0: 256 pages).
	StackLimit, StackGuardGap uint64
}

// NewWith returns an engine over a new space with the settings o.
func NewWith(o Options) (*Engine, error) {
	c := mm.DefaultConfig()
	c.Mode, c.Recycle, c.MaxAreas = o.Mode, o.Recycle, o.MaxAreas
	if c.MaxAreas == 0 {
		c.MaxAreas = 65530
	}
	c.NoZeroPage, c.OvercommitNever = o.NoZeroPage, o.OvercommitNever
	c.StackLimit, c.StackGuardGap = o.StackLimit, o.StackGuardGap
	s, err := mm.New(c)
	if err != nil {
		return nil, err
	}
	return &Engine{S: s}, nil
}

// HostOptions are the settings that make vmspace answer as the host h
// does (kernel.ProbeHost), with lock mode and recycling left to the
// caller. What it cannot match is in h.Unmatched.
func HostOptions(h kernel.Host) Options {
	return Options{
		NoZeroPage:      !h.ZeroPage,
		OvercommitNever: h.Overcommit == 2,
		MaxAreas:        h.MaxMapCount,
		StackLimit:      h.StackLimit,
		StackGuardGap:   h.StackGuardGap,
	}
}

func place(addr uint64) (uint64, bool) {
	return addr - Base, addr >= Base && addr < Base+RegionSize
}

// Mmap implements script.Engine.
func (e *Engine) Mmap(off, length uint64, prot script.Prot, f script.MapFlags) (uint64, bool, error) {
	var flags mm.MapFlags
	for _, p := range []struct {
		s script.MapFlags
		m mm.MapFlags
	}{
		{script.FlagPrivate, mm.MapPrivate}, {script.FlagShared, mm.MapShared},
		{script.FlagAnon, mm.MapAnonymous}, {script.FlagFixed, mm.MapFixed},
		{script.FlagNoreplace, mm.MapFixedNoReplace}, {script.FlagGrowsdown, mm.MapGrowsDown},
		{script.FlagPopulate, mm.MapPopulate}, {script.FlagNoreserve, mm.MapNoReserve},
		{script.FlagLocked, mm.MapLocked}, {script.FlagStack, mm.MapStack},
	} {
		if f&p.s != 0 {
			flags |= p.m
		}
	}
	addr, err := e.S.Map(Base+off, length, mm.Prot(prot), flags)
	if err != nil {
		return 0, false, err
	}
	placed, inside := place(addr)
	return placed, inside, nil
}

// Munmap implements script.Engine.
func (e *Engine) Munmap(off, length uint64) error { return e.S.Unmap(Base+off, length) }

// Mprotect implements script.Engine.
func (e *Engine) Mprotect(off, length uint64, prot script.Prot) error {
	return e.S.Protect(Base+off, length, mm.Prot(prot))
}

// Mremap implements script.Engine.
func (e *Engine) Mremap(off, oldLen, newLen uint64, mayMove, fixed bool, newOff uint64, dontUnmap bool) (uint64, bool, error) {
	var flags mm.RemapFlags
	if mayMove || fixed {
		flags |= mm.RemapMayMove
	}
	if fixed {
		flags |= mm.RemapFixed
	}
	if dontUnmap {
		flags |= mm.RemapDontUnmap
	}
	// The kernel engine passes the new address only with fixed, as the
	// kernel reads it only then; without, dontunmap takes 0 as its hint.
	var newAddr uint64
	if fixed {
		newAddr = Base + newOff
	}
	addr, err := e.S.Remap(Base+off, oldLen, newLen, flags, newAddr)
	if err != nil {
		return 0, false, err
	}
	placed, inside := place(addr)
	return placed, inside, nil
}

// Madvise implements script.Engine.
func (e *Engine) Madvise(off, length uint64, advice script.Advice) error {
	return e.S.Advise(Base+off, length, mm.Advice(adviceValues[advice]))
}

// adviceValues maps script advice to Linux's MADV_* values.
var adviceValues = map[script.Advice]int{
	script.AdvNormal: 0, script.AdvRandom: 1, script.AdvSequential: 2, script.AdvWillneed: 3,
	script.AdvDontneed: 4, script.AdvFree: 8, script.AdvDontfork: 10, script.AdvDofork: 11,
	script.AdvHugepage: 14, script.AdvNohugepage: 15, script.AdvDontdump: 16, script.AdvDodump: 17,
	script.AdvWipeonfork: 18, script.AdvKeeponfork: 19, script.AdvCold: 20, script.AdvPageout: 21,
	script.AdvPopulateRead: 22, script.AdvPopulateWrite: 23, script.AdvGuardInstall: 102, script.AdvGuardRemove: 103,
}

func faultErr(err error) error {
	var fe *mm.FaultError
	if errors.As(err, &fe) {
		if fe.Code == mm.MapErr {
			return script.ErrSegvMaperr
		}
		return script.ErrSegvAccerr
	}
	if errors.Is(err, mm.ErrSigbus) {
		return script.ErrSigbus
	}
	return err
}

// Touch implements script.Engine.
func (e *Engine) Touch(off uint64, val byte) error {
	_, err := e.S.WriteAt([]byte{val}, Base+off)
	return faultErr(err)
}

// Read implements script.Engine.
func (e *Engine) Read(off uint64) (byte, error) {
	var b [1]byte
	_, err := e.S.ReadAt(b[:], Base+off)
	return b[0], faultErr(err)
}

// Mincore implements script.Engine.
func (e *Engine) Mincore(off, length uint64) ([]bool, error) {
	return e.S.Mincore(Base+off, length)
}

// Maps implements script.Engine.
func (e *Engine) Maps() ([]script.Area, error) {
	var out []script.Area
	for _, m := range e.S.Maps() {
		if m.End <= Base || m.Start >= Base+RegionSize {
			continue
		}
		out = append(out, script.Area{
			Start:  int64(m.Start - Base),
			End:    int64(m.End - Base),
			Prot:   script.Prot(m.Prot()),
			Shared: m.Shared,
		})
	}
	return out, nil
}

var _ script.Engine = (*Engine)(nil)
var _ = syscall.EINVAL
