package mm

import (
	"testing"
)

// brk as Linux answers it (the same steps as testdata/oracle/extra/12_brk,
// whose answers the kernel recorded): each step is a call and the break it
// returns, or a layout change, and the layout after it, with "[heap]"
// marks, in pages from tbase.
func TestBrk(t *testing.T) {
	type step struct {
		do     string // "brk", "map", "mapro", "mapgd" (growsdown), "unmap", "ro", "touch"
		page   uint64 // the argument, in pages (brk: plus off bytes)
		off    uint64
		pages  uint64
		want   uint64 // brk: the break returned, in pages, plus wantOff
		wantOf uint64
		layout string // checked when not ""
	}
	const h = 16 // the heap starts at page 16
	steps := []step{
		{do: "brk", page: h, want: h, layout: ""},
		{do: "brk", page: h + 2, want: h + 2, layout: "16-18 rw-p [heap]"},
		{do: "touch", page: h},
		{do: "brk", page: h + 3, off: 0x800, want: h + 3, wantOf: 0x800, layout: "16-20 rw-p [heap]"},
		// below the start: refused
		{do: "brk", page: h - 1, want: h + 3, wantOf: 0x800},
		{do: "brk", page: 0, want: h + 3, wantOf: 0x800},
		// shrinking unmaps
		{do: "brk", page: h + 1, want: h + 1, layout: "16-17 rw-p [heap]"},
		// growth joins the heap's area and stops a page short of the next mapping
		{do: "map", page: 48, pages: 1},
		{do: "brk", page: 46, want: 46, layout: "16-46 rw-p [heap], 48-49 rw-p"},
		{do: "brk", page: 48, want: 46},
		{do: "brk", page: 47, want: 47},
		{do: "brk", page: 47, off: 1, want: 47},
		// shrinking goes over whatever is mapped in between
		{do: "mapro", page: 32, pages: 1, layout: "16-32 rw-p [heap], 32-33 r--p [heap], 33-47 rw-p [heap], 48-49 rw-p"},
		{do: "brk", page: 24, want: 24, layout: "16-24 rw-p [heap], 48-49 rw-p"},
		// with nothing mapped where it would shrink, brk fails
		{do: "unmap", page: 16, pages: 8},
		{do: "brk", page: 17, want: 24},
		{do: "brk", page: 32, want: 32, layout: "24-32 rw-p [heap], 48-49 rw-p"},
		{do: "map", page: 16, pages: 1},
		{do: "brk", page: h, want: h, layout: "48-49 rw-p"},
		{do: "unmap", page: 48, pages: 1},
		// an area ending exactly at an empty heap's start is not the heap
		// and does not take the growth
		{do: "map", page: 15, pages: 1, layout: "15-16 rw-p"},
		{do: "brk", page: h + 1, want: h + 1, layout: "15-16 rw-p, 16-17 rw-p [heap]"},
		// the heap's area takes the growth, written or not; read-only, not
		{do: "touch", page: h},
		{do: "brk", page: h + 2, want: h + 2, layout: "15-16 rw-p, 16-18 rw-p [heap]"},
		{do: "ro", page: h, pages: 2},
		{do: "brk", page: h + 3, want: h + 3, layout: "15-16 rw-p, 16-18 r--p [heap], 18-19 rw-p [heap]"},
		// a stack above keeps its guard gap away
		{do: "mapgd", page: 512, pages: 1},
		{do: "brk", page: 256, want: h + 3},
		{do: "brk", page: 255, want: 255},
	}
	forConfigs(t, func(t *testing.T, mode LockMode, recycle bool) {
		s := newSpace(t, mode, recycle, nil)
		s.SetBrk(tbase+h*pg, tbase+h*pg)
		for i, st := range steps {
			var err error
			switch st.do {
			case "brk":
				got := s.Brk(tbase + st.page*pg + st.off)
				if want := tbase + st.want*pg + st.wantOf; got != want {
					t.Fatalf("step %d: Brk(page %d + %#x) = %#x, want %#x", i, st.page, st.off, got, want)
				}
			case "map":
				mustMap(t, s, st.page, st.pages, rw)
			case "mapro":
				mustMap(t, s, st.page, st.pages, ro)
			case "mapgd":
				_, err = s.Map(tbase+st.page*pg, st.pages*pg, rw, priv|MapFixed|MapGrowsDown)
			case "unmap":
				err = s.Unmap(tbase+st.page*pg, st.pages*pg)
			case "ro":
				err = s.Protect(tbase+st.page*pg, st.pages*pg, ro)
			case "touch":
				mustFault(t, s, st.page, Write)
			}
			if err != nil {
				t.Fatalf("step %d: %s: %v", i, st.do, err)
			}
			if st.layout != "" {
				if got := heapLayout(s); got != st.layout {
					t.Fatalf("step %d: layout %q, want %q", i, got, st.layout)
				}
			}
		}
	})
}

// heapLayout is layout with the heap marked.
func heapLayout(s *Space) string {
	out := ""
	for i, m := range s.Maps() {
		if i > 0 {
			out += ", "
		}
		out += layoutLine(m)
		if m.Heap {
			out += " [heap]"
		}
	}
	return out
}

func layoutLine(m Mapping) string {
	return itoa(int64(m.Start-tbase)/pg) + "-" + itoa(int64(m.End-tbase)/pg) + " " + m.Perms()
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// A space with no heap (start_brk 0) cannot grow one, and Brk(0) reports
// the break; a fork inherits the heap.
func TestBrkNoHeapAndFork(t *testing.T) {
	s := newSpace(t, PerArea, true, nil)
	if got := s.Brk(tbase); got != 0 {
		t.Fatalf("Brk without a heap = %#x, want 0", got)
	}
	s.SetBrk(tbase, tbase)
	if got := s.Brk(0); got != tbase {
		t.Fatalf("Brk(0) = %#x", got)
	}
	if got := s.Brk(tbase + 2*pg); got != tbase+2*pg {
		t.Fatalf("Brk = %#x", got)
	}
	c, err := s.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if start, brk := c.BrkRange(); start != tbase || brk != tbase+2*pg {
		t.Fatalf("child heap %#x-%#x", start, brk)
	}
	if !c.Maps()[0].Heap {
		t.Fatal("child's heap not marked")
	}
}
