// Package script is the language in which vmspace and the real kernel are
// compared: one call per line, one answer per line, in the exact text the
// kernel oracle recorded (testdata/oracle; the language is described in
// testdata/oracle/README.md): anonymous and file mappings, the heap (brk),
// accesses and the layout.
//
// It knows nothing of any implementation. An Engine executes the calls
// (package kernel runs them against the real Linux mm of this process;
// vmspace runs them against its model), and Run turns a script into the
// transcript. Two engines agree on a script exactly when their transcripts
// are byte-for-byte equal, which is what the differential fuzzer checks
// on the scripts that Generate produces.
package script
