package vmspace_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/vmspace/vmspace"
)

func Example() {
	s, _ := vmspace.New()
	defer s.Close()
	rw := vmspace.ProtRead | vmspace.ProtWrite
	addr, _ := s.Map(0x10000000, 4*vmspace.PageSize, rw, vmspace.MapPrivate|vmspace.MapAnonymous|vmspace.MapFixed)
	_ = s.Fault(addr, vmspace.Write)
	s.WriteAt([]byte("hello"), addr)
	_ = s.Protect(addr, vmspace.PageSize, vmspace.ProtRead)
	err := s.Fault(addr, vmspace.Write)
	var fe *vmspace.FaultError
	fmt.Println(errors.As(err, &fe), fe.Code, errors.Is(err, syscall.EFAULT))
	buf := make([]byte, 5)
	s.ReadAt(buf, addr)
	fmt.Printf("%s\n", buf)
	s.WriteMaps(os.Stdout)
	// Output:
	// true SEGV_ACCERR true
	// hello
	// 10000000-10001000 r--p 00000000 00:00 0
	// 10001000-10004000 rw-p 00000000 00:00 0
}

func ExampleSpace_Unmap() {
	s, _ := vmspace.New()
	defer s.Close()
	a, _ := s.Map(0x10000000, 3*vmspace.PageSize, vmspace.ProtRead, vmspace.MapPrivate|vmspace.MapFixed)
	_ = s.Unmap(a+vmspace.PageSize, vmspace.PageSize)
	fmt.Println(len(s.Maps()), s.Fault(a+vmspace.PageSize, vmspace.Read))
	fmt.Println(errors.Is(s.Unmap(a+1, vmspace.PageSize), syscall.EINVAL))
	// Output:
	// 2 fault: read at 0x10001000: SEGV_MAPERR
	// true
}

// A file mapped twice: shared, where writes reach the file's page cache,
// and private, where the first write makes a copy. Past the end of the
// file an access is a SIGBUS.
func ExampleSpace_MapFile() {
	s, _ := vmspace.New()
	defer s.Close()
	f := vmspace.NewMemFile(vmspace.FileID{Dev: 0x801, Ino: 12}, "/data/table", vmspace.PageSize+100, true)
	rw := vmspace.ProtRead | vmspace.ProtWrite
	shared, _ := s.MapFile(0, 2*vmspace.PageSize, rw, vmspace.MapShared, f, 0)
	private, _ := s.MapFile(0, 2*vmspace.PageSize, rw, vmspace.MapPrivate, f, 0)
	s.WriteAt([]byte{42}, shared)
	b := make([]byte, 1)
	s.ReadAt(b, private)
	fmt.Println("private sees the shared write:", b[0])
	s.WriteAt([]byte{7}, private) // copy on write
	s.ReadAt(b, shared)
	fmt.Println("shared keeps its byte:", b[0])
	_, err := s.ReadAt(b, shared+vmspace.PageSize+100) // the partial last page
	fmt.Println("end of the last page:", err)
	vmspace.Truncate(f, 100)
	_, err = s.ReadAt(b, shared+vmspace.PageSize)
	fmt.Println("past the end:", errors.Is(err, vmspace.ErrSigbus))
	// Output:
	// private sees the shared write: 42
	// shared keeps its byte: 42
	// end of the last page: <nil>
	// past the end: true
}

// The heap: Brk grows and shrinks it from where WithBrk puts it, and
// answers the old break when it cannot move.
func ExampleSpace_Brk() {
	const start = 0x10000000
	s, _ := vmspace.New(vmspace.WithBrk(start))
	defer s.Close()
	fmt.Printf("%#x\n", s.Brk(start+3*vmspace.PageSize))
	fmt.Printf("%#x\n", s.Brk(start-vmspace.PageSize)) // below the start: refused
	s.WriteMaps(os.Stdout)
	// Output:
	// 0x10003000
	// 0x10003000
	// 10000000-10003000 rw-p 00000000 00:00 0                                  [heap]
}
