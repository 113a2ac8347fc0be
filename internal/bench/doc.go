// Package bench measures vmspace side by side with its whole-space lock mode
// and with the real kernel: the page-fault-under-churn workload behind
// `vmspace bench`, the engines that run it, and the latency histogram it
// records into.
//
// The workload has two players on two locked OS threads. F owns an area of
// FPages pages: it write-faults every page in, timing each fault, drops them
// all (madvise MADV_DONTNEED) and starts again. W changes the layout at the
// same time, in one of the Churn modes, from nowhere near F (ChurnUnrelated)
// to F's own area (ChurnConflict). How much of its undisturbed fault rate F
// keeps under each churn is what per-area locking is about: a fault should
// only wait for a writer that changes its own area.
//
// Runs are interleaved (every engine and churn once per repetition, in a
// different order each time) so that drift of the machine (frequency, other
// load, the heap's size) hits all of them alike, and each figure is reported
// as min/median/max over the repetitions.
package bench
