//go:build !linux

package uffd

import "github.com/vmspace/vmspace"

// Handler serves a userfaultfd; on this OS New always fails.
type Handler struct{}

// Stats are a handler's counters.
type Stats struct{}

// Local is the Memory of a window in this process.
type Local struct{}

func (Local) Zap(addr, length uint64) error                        { return ErrUnsupported }
func (Local) Protect(addr, length uint64, prot vmspace.Prot) error { return ErrUnsupported }

// New returns ErrUnsupported: userfaultfd is Linux only.
func New(space *vmspace.Space, fd int, cfg Config) (*Handler, error) { return nil, ErrUnsupported }

func (h *Handler) Serve() error { return ErrUnsupported }
func (h *Handler) Close() error { return nil }
func (h *Handler) Wait()        {}
func (h *Handler) Sync()        {}
func (h *Handler) Stats() Stats { return Stats{} }

func (h *Handler) ReadAt(p []byte, addr uint64) (int, error)  { return 0, ErrUnsupported }
func (h *Handler) WriteAt(p []byte, addr uint64) (int, error) { return 0, ErrUnsupported }
