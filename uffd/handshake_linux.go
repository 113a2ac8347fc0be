package uffd

import (
	"encoding/json"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Mapping is one guest memory region as Firecracker's snapshot loader
// describes it to its page-fault handler (GuestRegionUffdMapping): the
// region's host address in the client, its size, the offset of its
// contents in the memory image, and its page size in bytes.
// PageSizeKiB is the older name of the same field (bytes too, despite
// the name); either is accepted.
type Mapping struct {
	BaseHostVirtAddr uint64 `json:"base_host_virt_addr"`
	Size             uint64 `json:"size"`
	Offset           uint64 `json:"offset"`
	PageSize         uint64 `json:"page_size,omitempty"`
	PageSizeKiB      uint64 `json:"page_size_kib,omitempty"`
}

// maxHandshake bounds the handshake message.
const maxHandshake = 1 << 16

// ReadHandshake receives a Firecracker-style handshake on conn: one
// message holding a JSON list of Mappings with the userfaultfd as
// SCM_RIGHTS ancillary data. It checks the mappings (non-empty, page size
// 4096, aligned, not overlapping) and that the descriptor is a
// userfaultfd; on any error every descriptor received is closed.
func ReadHandshake(conn *net.UnixConn) ([]Mapping, int, error) {
	ms, fd, _, err := readHandshake(conn, false)
	return ms, fd, err
}

// ReadHandshakeMemory is ReadHandshake that also accepts vmspace's
// extension: a second descriptor, a UNIX socket, the client's memory
// channel (see Remote). mem is -1 when the client sent none (Firecracker).
func ReadHandshakeMemory(conn *net.UnixConn) (ms []Mapping, fd, mem int, err error) {
	return readHandshake(conn, true)
}

func readHandshake(conn *net.UnixConn, withMem bool) ([]Mapping, int, int, error) {
	buf := make([]byte, maxHandshake)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, -1, -1, fmt.Errorf("handshake: %w", err)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return nil, -1, -1, err
	}
	fail := func(format string, args ...any) ([]Mapping, int, int, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, -1, -1, fmt.Errorf("handshake: "+format, args...)
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return fail("message truncated (over %d bytes, or too many descriptors)", maxHandshake)
	}
	if len(fds) != 1 && !(withMem && len(fds) == 2) {
		if withMem {
			return fail("%d descriptors attached, want a userfaultfd and optionally a memory channel", len(fds))
		}
		return fail("%d descriptors attached, want 1 userfaultfd", len(fds))
	}
	var ms []Mapping
	if err := json.Unmarshal(buf[:n], &ms); err != nil {
		return fail("malformed region list: %v", err)
	}
	if err := CheckMappings(ms); err != nil {
		return fail("%v", err)
	}
	if !isUffd(fds[0]) {
		return fail("the descriptor is not a userfaultfd")
	}
	mem := -1
	if len(fds) == 2 {
		var st unix.Stat_t
		if err := unix.Fstat(fds[1], &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
			return fail("the second descriptor is not a socket (the memory channel)")
		}
		if t, err := unix.GetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_SEQPACKET {
			return fail("the memory channel is not a SOCK_SEQPACKET socket")
		}
		mem = fds[1]
	}
	return ms, fds[0], mem, nil
}

func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("handshake: ancillary data: %w", err)
	}
	var fds []int
	for _, cm := range cms {
		f, err := unix.ParseUnixRights(&cm)
		if err == nil {
			fds = append(fds, f...)
		}
	}
	return fds, nil
}

// CheckMappings refuses an empty list, a page size other than 4096,
// unaligned, empty, wrapping or overlapping regions.
func CheckMappings(ms []Mapping) error {
	if len(ms) == 0 {
		return fmt.Errorf("no regions")
	}
	rs := make([]Region, len(ms))
	for i, m := range ms {
		ps := m.PageSize
		if ps == 0 {
			ps = m.PageSizeKiB
		}
		if ps != pageSize {
			return fmt.Errorf("region %d: page size %d, only 4096 is served", i, ps)
		}
		if m.Offset%pageSize != 0 || m.Offset+m.Size < m.Offset {
			return fmt.Errorf("region %d: offset %#x unaligned or wrapping", i, m.Offset)
		}
		rs[i] = Region{Host: m.BaseHostVirtAddr, Size: m.Size, Base: m.BaseHostVirtAddr}
	}
	_, err := checkRegions(rs)
	return err
}

// WriteHandshake sends ms and the descriptor fd on conn, as Firecracker
// does.
func WriteHandshake(conn *net.UnixConn, ms []Mapping, fd int) error {
	return WriteHandshakeMemory(conn, ms, fd, -1)
}

// WriteHandshakeMemory is WriteHandshake for a cooperative client: mem
// (if >= 0) is its end of a memory channel (MemoryPair's theirs), sent as
// a second descriptor.
func WriteHandshakeMemory(conn *net.UnixConn, ms []Mapping, fd, mem int) error {
	b, err := json.Marshal(ms)
	if err != nil {
		return err
	}
	rights := unix.UnixRights(fd)
	if mem >= 0 {
		rights = unix.UnixRights(fd, mem)
	}
	_, _, err = conn.WriteMsgUnix(b, rights, nil)
	return err
}

// PeerPid returns the pid of the process at the other end of a handshake
// connection (SO_PEERCRED), or 0 if it cannot tell: the Pid a Config needs
// for ReadAt and WriteAt on a window in that process.
func PeerPid(conn *net.UnixConn) int {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}
