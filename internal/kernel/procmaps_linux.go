//go:build linux && (amd64 || arm64)

package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vmspace/vmspace/internal/script"
)

// vma is one line of /proc/self/maps: the kernel's own view of a VMA.
type vma struct {
	start, end uint64
	prot       script.Prot
	shared     bool
	// offset, device (major, minor) and inode, and the name ("" for
	// none): the rest of the line.
	offset       uint64
	major, minor uint64
	ino          uint64
	name         string
}

// readMaps parses /proc/self/maps, which lists the VMAs in address order
// (show_map_vma: "start-end perms offset dev inode path"). Only the first
// two fields are read.
func readMaps() ([]vma, error) {
	data, err := readProc("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	out := make([]vma, 0, 64)
	for len(data) > 0 {
		line := data
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			data = nil
		}
		v, ok := parseMapsLine(line)
		if !ok {
			return nil, fmt.Errorf("kernel: bad /proc/self/maps line %q", line)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseMapsLine reads "start-end perms offset major:minor inode name"
// with hex addresses, offset and device, and a decimal inode.
func parseMapsLine(line []byte) (vma, bool) {
	var v vma
	i := 0
	hex := func() (uint64, bool) {
		var n uint64
		j := i
		for ; i < len(line); i++ {
			c := line[i]
			switch {
			case '0' <= c && c <= '9':
				n = n<<4 | uint64(c-'0')
			case 'a' <= c && c <= 'f':
				n = n<<4 | uint64(c-'a'+10)
			default:
				return n, i > j
			}
		}
		return n, i > j
	}
	var ok bool
	if v.start, ok = hex(); !ok || i >= len(line) || line[i] != '-' {
		return v, false
	}
	i++
	if v.end, ok = hex(); !ok || len(line) < i+5 || line[i] != ' ' {
		return v, false
	}
	perms := line[i+1 : i+5]
	if perms[0] == 'r' {
		v.prot |= script.ProtRead
	}
	if perms[1] == 'w' {
		v.prot |= script.ProtWrite
	}
	if perms[2] == 'x' {
		v.prot |= script.ProtExec
	}
	v.shared = perms[3] == 's'
	i += 5
	skip := func() {
		for i < len(line) && line[i] == ' ' {
			i++
		}
	}
	skip()
	if v.offset, ok = hex(); !ok {
		return v, false
	}
	skip()
	if v.major, ok = hex(); !ok || i >= len(line) || line[i] != ':' {
		return v, false
	}
	i++
	if v.minor, ok = hex(); !ok {
		return v, false
	}
	skip()
	j := i
	for ; i < len(line) && '0' <= line[i] && line[i] <= '9'; i++ {
		v.ino = v.ino*10 + uint64(line[i]-'0')
	}
	if i == j {
		return v, false
	}
	skip()
	v.name = string(line[i:])
	return v, true
}

// procBuf is reused by readProc; the engine is not for concurrent use, but
// several engines may be, hence the lock.
var (
	procMu  sync.Mutex
	procBuf = make([]byte, 64<<10)
)

// readProc reads a whole /proc file with few system calls (seq_file fills
// as much of each read as it can) and returns a copy.
func readProc(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	procMu.Lock()
	defer procMu.Unlock()
	n := 0
	for {
		if n == len(procBuf) {
			procBuf = append(procBuf, make([]byte, len(procBuf))...)
		}
		m, err := f.Read(procBuf[n:])
		n += m
		if err == io.EOF || m == 0 && err == nil {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return bytes.Clone(procBuf[:n]), nil
}

// covering gives the VMA that contains addr.
func covering(vmas []vma, addr uint64) (vma, bool) {
	for _, v := range vmas {
		if v.start <= addr && addr < v.end {
			return v, true
		}
	}
	return vma{}, false
}

// pmGuard is the /proc/pid/pagemap bit of a PTE that is a guard-region
// marker (MADV_GUARD_INSTALL; Documentation/admin-guide/mm/pagemap.rst).
const pmGuard = 1 << 58

// isGuard reports whether the page at addr carries a guard marker.
func isGuard(addr uint64) (bool, error) {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return false, err
	}
	defer f.Close()
	var b [8]byte
	if _, err := f.ReadAt(b[:], int64(addr/pageSize*8)); err != nil {
		return false, err
	}
	return binary.NativeEndian.Uint64(b[:])&pmGuard != 0, nil
}
