package script

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every line of the oracle scripts parses.
func TestParseOracleScripts(t *testing.T) {
	files, err := filepath.Glob("../../testdata/oracle/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no oracle scripts: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if _, err := Parse(line); err != nil {
				t.Errorf("%s:%d: %v", filepath.Base(f), i+1, err)
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Op
	}{
		{"  # note  ", Op{Kind: OpComment, Line: "# note"}},
		{"\t", Op{Kind: OpComment, Line: ""}},
		{"mmap 0x1000 8192 rw- private,anon,fixed", Op{Kind: OpMmap, Off: 0x1000, Len: 8192,
			Prot: ProtRead | ProtWrite, Flags: FlagPrivate | FlagAnon | FlagFixed}},
		{"mmap -0x1000 -1 --x stack,locked,populate,noreserve,growsdown,noreplace,shared", Op{Kind: OpMmap,
			Off: ^uint64(0xfff), Len: ^uint64(0), Prot: ProtExec,
			Flags: FlagStack | FlagLocked | FlagPopulate | FlagNoreserve | FlagGrowsdown | FlagNoreplace | FlagShared}},
		{"munmap 0x7fffffffffff0000 0x1000", Op{Kind: OpMunmap, Off: 0x7fffffffffff0000, Len: 0x1000}},
		{"mprotect 0 0x1 -w-", Op{Kind: OpMprotect, Len: 1, Prot: ProtWrite}},
		{"mremap 0x0 0x2000 0x4000", Op{Kind: OpMremap, Len: 0x2000, NewLen: 0x4000}},
		{"mremap 0x0 0x1000 0x2000 maymove", Op{Kind: OpMremap, Len: 0x1000, NewLen: 0x2000, MayMove: true}},
		{"mremap 0x800000 0x1000 0x1000 fixed 0x900000 dontunmap", Op{Kind: OpMremap, Off: 0x800000,
			Len: 0x1000, NewLen: 0x1000, NewOff: 0x900000, Fixed: true, MayMove: true, DontUnmap: true}},
		{"mremap 0 1 2 dontunmap maymove", Op{Kind: OpMremap, Len: 1, NewLen: 2, MayMove: true, DontUnmap: true}},
		{"madvise 0x0 0x1000 populate_write", Op{Kind: OpMadvise, Len: 0x1000, Advice: AdvPopulateWrite}},
		{"touch 0x10", Op{Kind: OpTouch, Off: 0x10, Val: 1}},
		{"touch 0x10 0x1ff", Op{Kind: OpTouch, Off: 0x10, Val: 0xff}},
		{"read 0x10", Op{Kind: OpRead, Off: 0x10}},
		{"mincore 0 0x3000", Op{Kind: OpMincore, Len: 0x3000}},
		{"maps", Op{Kind: OpMaps}},
		{"file f1 0x2800", Op{Kind: OpFile, File: "f1", Len: 0x2800}},
		{"file a 0 ro", Op{Kind: OpFile, File: "a", Mode: FileRO}},
		{"file b 1 wo", Op{Kind: OpFile, File: "b", Len: 1, Mode: FileWO}},
		{"mmapfile 0x1000 0x2000 r-x private,fixed lib 0x3000", Op{Kind: OpMmapFile, Off: 0x1000, Len: 0x2000,
			Prot: ProtRead | ProtExec, Flags: FlagPrivate | FlagFixed, File: "lib", FileOff: 0x3000}},
		{"ftruncate a 0x1800", Op{Kind: OpFtruncate, File: "a", Len: 0x1800}},
		{"heap 0x10000", Op{Kind: OpHeap, Off: 0x10000}},
		{"brk -0x1000", Op{Kind: OpBrk, Off: ^uint64(0xfff)}},
	} {
		got, err := Parse(tc.line)
		tc.want.Line = strings.TrimSpace(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, line := range []string{
		"mmap", "mmap 0 0x1000 rw-", "mmap 0 0x1000 rw private", "mmap 0 0x1000 rwz private",
		"mmap 0 0x1000 rw- private,,anon", "mmap 0 0x1000 rw- private,huge", "mmap 0x 0x1000 rw- private",
		"mmap 0xg 0x1000 rw- private", "mmap 1_000 0x1000 rw- private", "mmap +1 0x1000 rw- private",
		"mmap --1 0x1000 rw- private", "mmap 0x10000000000000000 0x1000 rw- private",
		"munmap 0", "munmap 0 1 2", "mprotect 0 1", "mremap 0 1", "mremap 0 1 2 fixed",
		"mremap 0 1 2 maymove maymove", "mremap 0 1 2 move", "madvise 0 1 hugepages",
		"touch", "touch 1 2 3", "touch x", "read", "read 1 2", "mincore 0", "maps 0", "MAPS", "sbrk 0",
		"file", "file a", "file A 1", "file 1a 1", "file a 1 rw", "file a 1 ro ro", "file a -", "mmapfile 0 1 rw- private a",
		"mmapfile 0 1 rw- private,anon a 0", "mmapfile 0 1 rw- private a- 0", "ftruncate a", "ftruncate 0 a",
		"heap", "heap 0x1001", "heap 0x40000000", "heap -0x1000", "brk", "brk 0 1",
	} {
		op, err := Parse(line)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error", line, op)
		} else if op.Line != line {
			t.Errorf("Parse(%q).Line = %q", line, op.Line)
		}
	}
}

func TestStrings(t *testing.T) {
	if s := (ProtRead | ProtExec).String(); s != "r-x" {
		t.Errorf("prot %q", s)
	}
	if s := (FlagShared | FlagPrivate | FlagFixed | FlagStack).String(); s != "private,shared,fixed,stack" {
		t.Errorf("flags %q", s)
	}
	for _, a := range Advices() {
		if b, err := parseAdvice(a.String()); err != nil || b != a {
			t.Errorf("advice %v round trip: %v %v", a, b, err)
		}
	}
	if len(Advices()) != 20 || Advices()[19].String() != "guard_remove" {
		t.Errorf("advices %v", Advices())
	}
}
