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
