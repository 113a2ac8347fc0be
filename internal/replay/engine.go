// Package replay runs oracle scripts (package script) against a vmspace
// space, so that its answers can be compared byte for byte with the
// kernel's (package kernel).
package replay

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
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

	files  map[string]*scriptFile // the script's files by name
	idents map[mm.FileID]string   // every file the script made, by identity
	heap   bool                   // a heap line ran
	all    []*mm.MemFile          // every file the script made, for Close
}

// scriptFile is a script's file: an in-memory file and the mode the
// script opened it with.
type scriptFile struct {
	f    *mm.MemFile
	mode script.FileMode
}

// fileDev is the device of the engine's files; each gets a new inode
// number, unique in the process, since the page cache is per FileID.
const fileDev = 0x2d

var nextIno atomic.Uint64

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
	return &Engine{S: s, files: map[string]*scriptFile{}, idents: map[mm.FileID]string{}}, nil
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

// Close closes the space and forgets the page caches of the script's
// files (their inode numbers are never used again).
func (e *Engine) Close() {
	e.S.Close()
	for _, f := range e.all {
		mm.Evict(f)
	}
	e.all = nil
}

func place(addr uint64) (uint64, bool) {
	return addr - Base, addr >= Base && addr < Base+RegionSize
}

// mapFlags gives the MAP_* flags of a script's flags.
func mapFlags(f script.MapFlags) mm.MapFlags {
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
	return flags
}

// Mmap implements script.Engine.
func (e *Engine) Mmap(off, length uint64, prot script.Prot, f script.MapFlags) (uint64, bool, error) {
	addr, err := e.S.Map(Base+off, length, mm.Prot(prot), mapFlags(f))
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
		a := script.Area{
			Start:  int64(m.Start - Base),
			End:    int64(m.End - Base),
			Prot:   script.Prot(m.Prot()),
			Shared: m.Shared,
			Heap:   m.Heap,
		}
		if m.Path != "" {
			a.File, a.FileOff = e.fileName(m.File), m.Offset
		}
		out = append(out, a)
	}
	return out, nil
}

// fileName gives the script's name of the file with identity id.
func (e *Engine) fileName(id mm.FileID) string {
	return e.idents[id]
}

// File implements script.Engine: a new in-memory file.
func (e *Engine) File(name string, size uint64, mode script.FileMode) error {
	if size > math.MaxInt64 {
		return syscall.EINVAL
	}
	id := mm.FileID{Dev: fileDev, Ino: nextIno.Add(1)}
	f := mm.NewMemFile(id, "/"+name, int64(size), true)
	f.SetMode(mode != script.FileWO, mode != script.FileRO)
	e.files[name] = &scriptFile{f: f, mode: mode}
	e.idents[id] = name
	e.all = append(e.all, f)
	return nil
}

func (e *Engine) file(name string) (*scriptFile, error) {
	f := e.files[name]
	if f == nil {
		return nil, fmt.Errorf("replay: no file %q", name)
	}
	return f, nil
}

// MmapFile implements script.Engine.
func (e *Engine) MmapFile(off, length uint64, prot script.Prot, fl script.MapFlags, name string, foff uint64) (uint64, bool, error) {
	f, err := e.file(name)
	if err != nil {
		return 0, false, err
	}
	addr, err := e.S.MapFile(Base+off, length, mm.Prot(prot), mapFlags(fl), f.f, foff)
	if err != nil {
		return 0, false, err
	}
	placed, inside := place(addr)
	return placed, inside, nil
}

// Ftruncate implements script.Engine. ftruncate needs a descriptor open
// for writing (EINVAL otherwise) and a size that is not negative as a
// loff_t.
func (e *Engine) Ftruncate(name string, size uint64) error {
	f, err := e.file(name)
	if err != nil {
		return err
	}
	if f.mode == script.FileRO || size > math.MaxInt64 {
		return syscall.EINVAL
	}
	return mm.Truncate(f.f, int64(size))
}

// Heap implements script.Engine.
func (e *Engine) Heap(off uint64) error {
	e.S.SetBrk(Base+off, Base+off)
	e.heap = true
	return nil
}

// Brk implements script.Engine.
func (e *Engine) Brk(off uint64) (uint64, error) {
	if !e.heap {
		return 0, script.ErrNoHeap
	}
	return e.S.Brk(Base+off) - Base, nil
}

var _ script.Engine = (*Engine)(nil)
var _ = syscall.EINVAL
