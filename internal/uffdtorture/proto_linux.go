package uffdtorture

import (
	"encoding/binary"
	"io"
	"sync"
)

// The control socket, after the handshake, carries fixed-size messages
// both ways: a client's requests and the server's answers, and the
// server's Memory calls and the client's answers.
const (
	// Client to server; answered by opDone, c = errno (0: done).
	reqPlug    = 1 // [a, a+b) was mapped again and registered: Sync, then Map read-write
	reqAdvise  = 2 // Space.Advise(a, b, DontNeed)
	reqProtect = 3 // Space.Protect(a, b, c)
	reqUnmap   = 4 // Space.Unmap(a, b)
	reqMap     = 5 // Space.Map(a, b, read-write, fixed)

	// Server to client, from the Memory inside a write session;
	// answered by opAck, c = errno.
	callZap     = 16 // madvise(a, b, MADV_DONTNEED)
	callProtect = 17 // mprotect(a, b, c)

	opDone = 32
	opAck  = 33
)

const msgLen = 32

// message is one control message: op and three arguments, little-endian.
type message struct{ op, a, b, c uint64 }

func readMsg(r io.Reader) (message, error) {
	var b [msgLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return message{}, err
	}
	le := binary.LittleEndian
	return message{le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])}, nil
}

// msgWriter writes whole messages; mu keeps two writers' messages apart.
type msgWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *msgWriter) write(m message) error {
	var b [msgLen]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], m.op)
	le.PutUint64(b[8:], m.a)
	le.PutUint64(b[16:], m.b)
	le.PutUint64(b[24:], m.c)
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err := w.w.Write(b[:])
	return err
}
