package vmspace

// TreeCopiedBytes exposes the bytes s's layout changes copied into tree
// nodes (internal/tree's writer statistic) to the benchmarks.
func TreeCopiedBytes(s *Space) uint64 { return s.s.TreeCopiedBytes() }
