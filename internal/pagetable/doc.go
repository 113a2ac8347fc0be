// Package pagetable maps the page-aligned addresses of a vmspace address
// space to frames of a frames.Arena (the kernel's page tables, in small).
//
// A slot holds a frame number: frames.None (empty), frames.Zero (the shared
// zero page), frames.Guard (a guard region's marker), or an ordinary frame
// for which the slot holds one mapping (frames.Arena.Map). A frame number
// in a slot is not a reference a reader may use to touch the bytes: a
// reader that loads a slot without a lock that keeps the slot still must
// take a reference (TryRef) and check the slot again before it reads or
// writes the frame (package frames, "The reuse rule").
//
// Faults on different areas run at the same time under different area read
// locks, and faults on the same area under shared read locks, so the table
// is built for concurrent writers: every slot is an atomic word, missing
// directory levels are installed with a compare-and-swap, and a fault makes
// a page present with a compare-and-swap of its slot. Removal at a layout
// change (unmap, mremap) happens only while the areas covering the range
// are write-locked or detached and the space lock is held for writing, so
// no fault can be working on the same slots; MADV_DONTNEED and MADV_FREE on
// one area run under its read lock and empty or mark slots with
// compare-and-swap, beside faults (package mm, madvise_lockless.go).
package pagetable
