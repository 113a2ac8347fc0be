package script

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// page is the page size the generated offsets are aligned to (x86-64).
const page = 0x1000

// hugeLens are lengths that overflow the address space. The kernel
// rejects each before touching any VMA: PAGE_ALIGN(-1) is 0, base+(-0x1000)
// wraps, and 0x7ffffffffffff000 exceeds TASK_SIZE (mmap, munmap, mremap
// check it; mprotect stops at the first hole).
var hugeLens = []uint64{^uint64(0), ^uint64(page - 1), 0x7ffffffffffff000}

// wrapLens are the huge lengths safe for madvise, which has no TASK_SIZE
// check and would advise every VMA up to the end: only the wrapping ones.
var wrapLens = []uint64{^uint64(0), ^uint64(page - 1), ^uint64(0x10000 - 1)}

// Generate returns a random script of n lines for differential fuzzing.
// All calls fall in a window of 16 to 32 pages at the region base, so
// they collide often: every call and flag mix, mostly valid, with a small
// share of unaligned offsets, zero and huge lengths, and a maps line every
// few lines and always last. The same rng state gives the same script.
//
// About a third of the scripts declare files first and map them with
// mmapfile (and resize them with ftruncate), and about a fifth start with
// a heap line and call brk.
func Generate(rng *rand.Rand, n int) string {
	g := &gen{rng: rng, pages: 16 + rng.IntN(17)}
	var sb strings.Builder
	var head []string
	if g.chance(20) {
		// In the window, where mappings crowd it, or just past it,
		// where it has room to grow.
		g.heap, g.hasHeap = uint64(g.rng.IntN(g.pages))*page, true
		if g.chance(50) {
			g.heap = uint64(g.pages+g.rng.IntN(4)) * page
		}
		head = append(head, fmt.Sprintf("heap %s", g.num(g.heap)))
	}
	if g.chance(35) {
		for range 1 + g.rng.IntN(3) {
			head = append(head, g.file())
		}
	}
	for i := range n {
		var line string
		switch {
		case i < len(head) && i < n-1:
			line = head[i]
		case i == n-1 || g.chance(12):
			line = "maps"
		default:
			line = g.line()
		}
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	return sb.String()
}

type gen struct {
	rng     *rand.Rand
	pages   int         // window size
	recent  [][2]uint64 // recent mmap ranges (offset, length), targets for later calls
	files   []string    // the files declared so far
	heap    uint64      // the heap's start, when the script has one
	hasHeap bool
}

// chance is true pct percent of the time.
func (g *gen) chance(pct int) bool { return g.rng.IntN(100) < pct }

func (g *gen) pick(words []string) string { return words[g.rng.IntN(len(words))] }

// fileWords are the names generated files get.
var fileWords = []string{"fa", "fb", "fc"}

// file declares a file of a few pages, sometimes with a partial last
// page, sometimes empty, read-only or write-only.
func (g *gen) file() string {
	name := fileWords[len(g.files)%len(fileWords)]
	if len(g.files) < len(fileWords) {
		g.files = append(g.files, name)
	} else {
		name = g.pick(g.files) // declared again: a new file
	}
	mode := ""
	switch r := g.rng.IntN(100); {
	case r < 12:
		mode = " ro"
	case r < 15:
		mode = " wo"
	}
	return fmt.Sprintf("file %s %s%s", name, g.num(g.fileSize()), mode)
}

// fileSize is a file size: a few pages, sometimes partial or zero.
func (g *gen) fileSize() uint64 {
	switch r := g.rng.IntN(100); {
	case r < 5:
		return 0
	case r < 30:
		return uint64(g.rng.IntN(8))*page + uint64(1+g.rng.IntN(page-1))
	}
	return uint64(1+g.rng.IntN(10)) * page
}

// fileLine is a call on the files: mostly mappings, some resizes.
func (g *gen) fileLine() string {
	name := g.pick(g.files)
	switch r := g.rng.IntN(100); {
	case r < 14:
		return fmt.Sprintf("ftruncate %s %s", name, g.num(g.fileSize()))
	case r < 16:
		return g.file()
	}
	m := g.mmap() // "mmap OFF LEN PROT FLAGS"
	f := strings.Fields(m)
	var fl []string
	for _, w := range strings.Split(f[4], ",") {
		if w != "anon" {
			fl = append(fl, w)
		}
	}
	if len(fl) == 0 {
		fl = []string{"fixed"} // neither private nor shared: EINVAL
	}
	var foff uint64
	switch r := g.rng.IntN(100); {
	case r < 3:
		foff = uint64(g.rng.IntN(4))*page + uint64(1+g.rng.IntN(page-1)) // EINVAL
	case r < 5:
		foff = hugeLens[g.rng.IntN(len(hugeLens))] // EOVERFLOW, mostly
	case r < 45:
	default:
		foff = uint64(g.rng.IntN(10)) * page
	}
	return fmt.Sprintf("mmapfile %s %s %s %s %s %s", f[1], f[2], f[3], strings.Join(fl, ","), name, g.num(foff))
}

// brk gives a brk line: mostly around the heap's start, sometimes below
// it.
func (g *gen) brk() string {
	off := g.heap + uint64(g.rng.IntN(8*page))
	switch r := g.rng.IntN(100); {
	case r < 10:
		off = g.heap - uint64(g.rng.IntN(3*page))
	case r < 40:
		off = g.heap + uint64(g.rng.IntN(g.pages))*page
	case r < 50:
		off = g.pageOff()
	}
	return fmt.Sprintf("brk %s", g.num(off))
}

func (g *gen) line() string {
	if len(g.files) > 0 && g.chance(18) {
		return g.fileLine()
	}
	if g.hasHeap && g.chance(10) {
		return g.brk()
	}
	switch w := g.rng.IntN(100); {
	case w < 24:
		return g.mmap()
	case w < 33:
		off, l := g.rangeArgs(hugeLens)
		return fmt.Sprintf("munmap %s %s", g.num(off), g.num(l))
	case w < 46:
		off, l := g.rangeArgs(hugeLens)
		return fmt.Sprintf("mprotect %s %s %s", g.num(off), g.num(l), g.prot())
	case w < 57:
		return g.mremap()
	case w < 70:
		off, l := g.rangeArgs(wrapLens)
		adv := Advices()
		return fmt.Sprintf("madvise %s %s %s", g.num(off), g.num(l), adv[g.rng.IntN(len(adv))])
	case w < 83:
		if g.chance(40) {
			return fmt.Sprintf("touch %s", g.num(g.byteOff()))
		}
		return fmt.Sprintf("touch %s 0x%02x", g.num(g.byteOff()), g.rng.IntN(256))
	case w < 93:
		return fmt.Sprintf("read %s", g.num(g.byteOff()))
	case w < 98:
		off, l := g.rangeArgs(hugeLens)
		return fmt.Sprintf("mincore %s %s", g.num(off), g.num(l))
	case w < 99:
		return ""
	default:
		return fmt.Sprintf("# window %d pages", g.pages)
	}
}

func (g *gen) mmap() string {
	off, l := g.pageOff(), g.length(hugeLens)
	var fl []string
	switch r := g.rng.IntN(100); {
	case r < 82:
		fl = append(fl, "private")
	case r < 95:
		fl = append(fl, "shared")
	case r < 97:
		fl = append(fl, "private", "shared") // MAP_SHARED_VALIDATE: EINVAL
	}
	if g.chance(70) {
		fl = append(fl, "anon")
	}
	switch r := g.rng.IntN(100); {
	case r < 60:
		fl = append(fl, "fixed")
	case r < 80:
		fl = append(fl, "noreplace")
	case r < 83:
		fl = append(fl, "fixed", "noreplace")
	} // else a plain hint
	small := l > 0 && l <= 8*page
	for _, x := range []struct {
		word string
		pct  int
		ok   bool
	}{
		{"growsdown", 5, true},
		{"populate", 6, small},
		{"noreserve", 8, true},
		{"locked", 4, small},
		{"stack", 5, true},
	} {
		if x.ok && g.chance(x.pct) {
			fl = append(fl, x.word)
		}
	}
	if len(fl) == 0 {
		fl = append(fl, "anon") // neither private nor shared: EINVAL
	}
	if g.chance(10) {
		g.rng.Shuffle(len(fl), func(i, j int) { fl[i], fl[j] = fl[j], fl[i] })
	}
	if l > 0 && l < 1<<32 && len(g.recent) < 8 {
		g.recent = append(g.recent, [2]uint64{off, l})
	} else if l > 0 && l < 1<<32 {
		g.recent[g.rng.IntN(len(g.recent))] = [2]uint64{off, l}
	}
	return fmt.Sprintf("mmap %s %s %s %s", g.num(off), g.num(l), g.prot(), strings.Join(fl, ","))
}

func (g *gen) mremap() string {
	off, old := g.rangeArgs(hugeLens)
	newLen := g.length(hugeLens)
	var opts []string
	switch r := g.rng.IntN(100); {
	case r < 30: // resize in place
	case r < 50:
		opts = append(opts, "maymove")
	case r < 80:
		if g.chance(30) {
			opts = append(opts, "maymove")
		}
		opts = append(opts, "fixed "+g.num(g.pageOff()))
	default: // dontunmap wants a move of the same size
		if g.chance(80) {
			newLen = old
		}
		if g.chance(70) {
			opts = append(opts, "fixed "+g.num(g.pageOff()))
		} else {
			opts = append(opts, "maymove")
		}
		opts = append(opts, "dontunmap")
	}
	return strings.TrimSpace(fmt.Sprintf("mremap %s %s %s %s", g.num(off), g.num(old), g.num(newLen), strings.Join(opts, " ")))
}

// rangeArgs gives an offset and length, half the time inside a recent
// mapping so that calls hit something.
func (g *gen) rangeArgs(huge []uint64) (off, length uint64) {
	if len(g.recent) > 0 && g.chance(50) {
		r := g.recent[g.rng.IntN(len(g.recent))]
		n := r[1] / page
		if n == 0 {
			n = 1
		}
		off = r[0] + uint64(g.rng.IntN(int(n)))*page
		if g.chance(4) {
			off += uint64(1 + g.rng.IntN(page-1))
		}
		return off, g.length(huge)
	}
	return g.pageOff(), g.length(huge)
}

// pageOff gives a page offset in the window, sometimes unaligned or just
// below the base.
func (g *gen) pageOff() uint64 {
	switch r := g.rng.IntN(100); {
	case r < 4:
		return uint64(g.rng.IntN(g.pages))*page + uint64(1+g.rng.IntN(page-1))
	case r < 6:
		return -uint64(1+g.rng.IntN(2)) * page
	}
	return uint64(g.rng.IntN(g.pages)) * page
}

// byteOff gives an address in the window for touch and read.
func (g *gen) byteOff() uint64 {
	off := g.pageOff() &^ (page - 1)
	if len(g.recent) > 0 && g.chance(50) {
		r := g.recent[g.rng.IntN(len(g.recent))]
		n := max(r[1]/page, 1)
		off = r[0]&^(page-1) + uint64(g.rng.IntN(int(n)))*page
	}
	if g.chance(20) {
		off += uint64(g.rng.IntN(page))
	}
	return off
}

// length gives a length of a few pages, sometimes zero, unaligned or huge.
func (g *gen) length(huge []uint64) uint64 {
	switch r := g.rng.IntN(100); {
	case r < 3:
		return 0
	case r < 6:
		return uint64(1+g.rng.IntN(4))*page - uint64(1+g.rng.IntN(page-1))
	case r < 9:
		return huge[g.rng.IntN(len(huge))]
	case r < 20:
		return uint64(1+g.rng.IntN(g.pages/2)) * page
	}
	return uint64(1+g.rng.IntN(4)) * page
}

func (g *gen) prot() string {
	return g.pick([]string{"rw-", "rw-", "rw-", "r--", "r--", "---", "r-x", "rwx", "-w-", "--x", "-wx"})
}

// num prints a number as scripts do: mostly 0x hex, sometimes decimal,
// negative when the top bit is set.
func (g *gen) num(v uint64) string {
	neg := int64(v) < 0
	if neg {
		v = -v
	}
	s := fmt.Sprintf("0x%x", v)
	if g.chance(10) {
		s = fmt.Sprintf("%d", v)
	}
	if neg {
		s = "-" + s
	}
	return s
}
