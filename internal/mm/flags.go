package mm

// Prot is a protection, as mmap's PROT_* bits.
type Prot uint32

const (
	ProtRead  Prot = 0x1
	ProtWrite Prot = 0x2
	ProtExec  Prot = 0x4
	ProtNone  Prot = 0
	protMask       = ProtRead | ProtWrite | ProtExec
)

// String renders p as in /proc/self/maps ("rw-").
func (p Prot) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// MapFlags are mmap's MAP_* flags, with Linux's values.
type MapFlags uint32

const (
	MapShared         MapFlags = 0x01
	MapPrivate        MapFlags = 0x02
	MapSharedValidate MapFlags = 0x03
	MapFixed          MapFlags = 0x10
	MapAnonymous      MapFlags = 0x20
	MapGrowsDown      MapFlags = 0x100
	MapLocked         MapFlags = 0x2000
	MapNoReserve      MapFlags = 0x4000
	MapPopulate       MapFlags = 0x8000
	MapStack          MapFlags = 0x20000
	MapFixedNoReplace MapFlags = 0x100000
	mapType                    = 0x0f
)

// Flags are an area's flags, with the kernel's VM_* values so that
// traces compare directly with the kernel's.
type Flags uint64

const (
	VMRead        Flags = 0x00000001
	VMWrite       Flags = 0x00000002
	VMExec        Flags = 0x00000004
	VMShared      Flags = 0x00000008
	VMMayRead     Flags = 0x00000010
	VMMayWrite    Flags = 0x00000020
	VMMayExec     Flags = 0x00000040
	VMMayShare    Flags = 0x00000080
	VMGrowsDown   Flags = 0x00000100
	VMLocked      Flags = 0x00002000
	VMSeqRead     Flags = 0x00008000
	VMRandRead    Flags = 0x00010000
	VMDontCopy    Flags = 0x00020000
	VMDontExpand  Flags = 0x00040000
	VMLockOnFault Flags = 0x00080000
	VMAccount     Flags = 0x00100000
	VMNoReserve   Flags = 0x00200000
	VMWipeOnFork  Flags = 0x02000000
	VMDontDump    Flags = 0x04000000
	VMSoftDirty   Flags = 0x08000000
	VMHugePage    Flags = 0x20000000
	VMNoHugePage  Flags = 0x40000000

	vmAccessFlags = VMRead | VMWrite | VMExec
	// vmIgnoreMerge are flags that never keep two areas apart
	// (VM_IGNORE_MERGE).
	vmIgnoreMerge = VMSoftDirty
)

// Prot returns the protection part of f.
func (f Flags) Prot() Prot { return Prot(f & vmAccessFlags) }

// Access is the kind of memory access that faults.
type Access uint8

const (
	Read Access = iota
	Write
	Exec
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Exec:
		return "exec"
	}
	return "access?"
}

// permits reports whether an area with flags f allows acc, with x86's
// rules (access_error): a write needs VM_WRITE, an instruction fetch
// VM_EXEC, and a read any of the three (write and exec imply read on x86).
func (f Flags) permits(acc Access) bool {
	switch acc {
	case Write:
		return f&VMWrite != 0
	case Exec:
		return f&VMExec != 0
	default:
		return f&vmAccessFlags != 0
	}
}
