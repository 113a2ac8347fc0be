// Package mmaccess hands packages of this module the internal space behind
// a public vmspace.Space, without putting an internal type in the public
// API. The root package sets Unwrap in its init; package uffd uses it to
// install its Observer and to read pages under an area lock.
package mmaccess

import "github.com/vmspace/vmspace/internal/mm"

// Unwrap returns the *mm.Space behind a *vmspace.Space. Set once, in the
// root package's init, before any other package's init can run.
var Unwrap func(space any) *mm.Space
