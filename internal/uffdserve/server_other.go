//go:build !linux

// Package uffdserve is `vmspace serve`: Linux only.
package uffdserve

import "github.com/vmspace/vmspace/uffd"

type Config struct {
	Socket, Image string
	Workers       int
	Logf          func(format string, args ...any)
	BeforeFill    func(pid int, addr uint64)
}

type Server struct{}

func New(c Config) (*Server, error) { return nil, uffd.ErrUnsupported }
func (s *Server) Serve() error      { return uffd.ErrUnsupported }
func (s *Server) Close() error      { return nil }
