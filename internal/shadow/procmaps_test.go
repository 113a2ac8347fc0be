package shadow

import (
	"testing"
)

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Line
	}{
		{"55e18f786000-55e18f788000 r--p 00000000 fe:00 247026                     /usr/bin/cat",
			Line{0x55e18f786000, 0x55e18f788000, "r--p", 0, "fe:00", 247026, "/usr/bin/cat"}},
		{"7fabfad6f000-7fabfad91000 rw-p 00000000 00:00 0 ", Line{0x7fabfad6f000, 0x7fabfad91000, "rw-p", 0, "00:00", 0, ""}},
		{"7f00-8f00 rw-s 00001000 00:01 4242   /dev/zero (deleted)",
			Line{0x7f00, 0x8f00, "rw-s", 0x1000, "00:01", 4242, "/dev/zero (deleted)"}},
		{"1000-2000 r-xp 0017c000 fe:00 9 /a dir/with  spaces", Line{0x1000, 0x2000, "r-xp", 0x17c000, "fe:00", 9, "/a dir/with  spaces"}},
	} {
		got, err := parseLine(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseLine(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "zz-1000 r--p 0 0:0 0", "1000-2000 rw 0 00:00 0", "1000-2000 rw-p 0 00:00 x"} {
		if _, err := parseLine(bad); err == nil {
			t.Errorf("parseLine(%q) accepted", bad)
		}
	}
}

func TestLineKinds(t *testing.T) {
	for _, tc := range []struct {
		l             Line
		anon, special bool
	}{
		{Line{Path: ""}, true, false},
		{Line{Path: "[heap]"}, true, false},
		{Line{Path: "[stack]"}, true, false},
		{Line{Path: "[anon:glibc]"}, true, false},
		{Line{Path: "/dev/zero (deleted)", Inode: 7}, true, false},
		{Line{Path: "[vdso]"}, false, true},
		{Line{Path: "[vvar_vclock]"}, false, true},
		{Line{Path: "/usr/bin/cat", Inode: 7}, false, false},
	} {
		if tc.l.anon() != tc.anon || tc.l.special() != tc.special {
			t.Errorf("%q: anon %v special %v, want %v %v", tc.l.Path, tc.l.anon(), tc.l.special(), tc.anon, tc.special)
		}
	}
}

func TestFirstDiffNormalize(t *testing.T) {
	k := []Line{
		{0x1000, 0x2000, "rw-s", 0, "00:01", 99, "/dev/zero (deleted)"},
		{0x3000, 0x4000, "r--p", 0x1000, "fe:00", 5, "/lib"},
		{0xffffffffff600000, 0xffffffffff601000, "--xp", 0, "00:00", 0, "[vsyscall]"},
	}
	m := []Line{
		{0x1000, 0x2000, "rw-s", 0, "00:01", 0, "/dev/zero (deleted)"},
		{0x3000, 0x4000, "r--p", 0x1000, "fe:00", 5, "/lib"},
	}
	if i := firstDiff(m, normalize(k)); i != -1 {
		t.Fatalf("firstDiff = %d, want -1", i)
	}
	for _, change := range []func(*Line){
		func(l *Line) { l.End += 0x1000 },
		func(l *Line) { l.Perms = "r-xp" },
		func(l *Line) { l.Perms = "r--s" },
		func(l *Line) { l.Offset = 0 },
		func(l *Line) { l.Dev = "fe:01" },
		func(l *Line) { l.Inode = 6 },
		func(l *Line) { l.Path = "/lib2" },
		func(l *Line) { l.Path = "/lib (deleted)" },
	} {
		m2 := append([]Line(nil), m...)
		change(&m2[1])
		if i := firstDiff(m2, normalize(k)); i != 1 {
			t.Errorf("after a change to %v: firstDiff = %d, want 1", m2[1], i)
		}
	}
	k[1].Path = "/lib (deleted)" // unlinked after it was mapped
	if i := firstDiff(m, normalize(k)); i != -1 {
		t.Errorf("an unlinked file: firstDiff = %d, want -1", i)
	}
	if i := firstDiff(m[:1], normalize(k)); i != 1 {
		t.Errorf("a missing line: firstDiff = %d, want 1", i)
	}
}

func TestFileSet(t *testing.T) {
	var fs fileSet
	fs.add(0x10000, 0x20000, fileInfo{Offset: 0x5000, Path: "[vdso]"})
	fs.remove(0x14000, 0x15000)
	if r, ok := fs.lookup(0x15000); !ok || r.Start != 0x15000 || r.Offset != 0xa000 {
		t.Errorf("after a hole: %+v %v", r, ok)
	}
	if _, ok := fs.lookup(0x14000); ok {
		t.Error("the hole is still there")
	}
	fs.remap(0x15000, 0xb000, 0xb000, 0x40000, false)
	if r, ok := fs.lookup(0x40000); !ok || r.Offset != 0xa000 || r.End != 0x4b000 {
		t.Errorf("moved: %+v %v", r, ok)
	}
	if _, ok := fs.lookup(0x15000); ok {
		t.Error("the source of a move is still there")
	}
}
