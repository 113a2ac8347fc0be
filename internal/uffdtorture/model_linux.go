package uffdtorture

import "github.com/vmspace/vmspace/internal/uffdclient"

// A page's state word. Only the holder of the page's lock (or its
// chunk's exclusive lock) stores it; readers load it before and after
// reading the page.
const (
	kindImage   = 0 // the image's page origin
	kindZero    = 1 // zeros: dropped, or mapped again
	kindWritten = 2 // pattern(client, origin, version), written by a thread
	kindMask    = 3

	stRO   = 1 << 2 // the area is read-only
	stBusy = 1 << 3 // a change is under way; the contents are in between

	originShift = 4 // 20 bits: the page whose contents these are (moved by mremap)
	originMask  = 1<<20 - 1
	verShift    = 24 // 16 bits: the pattern's version
	verMask     = 1<<16 - 1
	seqShift    = 40 // every store bumps it, so equal words mean nothing happened
)

func mkState(kind uint64, ro bool, origin, ver uint64) uint64 {
	s := kind | origin<<originShift | (ver&verMask)<<verShift
	if ro {
		s |= stRO
	}
	return s
}

func kindOf(s uint64) uint64   { return s & kindMask }
func originOf(s uint64) uint64 { return s >> originShift & originMask }
func verOf(s uint64) uint64    { return s >> verShift & verMask }

// patternTag marks a written word: tag, client, origin page, version,
// word index.
const patternTag = 0xA5

func patternWord(client, origin, ver uint64, i int) uint64 {
	return patternTag<<56 | client<<48 | origin<<28 | ver<<12 | uint64(i)
}

// imageWord is word i of image page p, as uffdclient.ImagePage writes it.
func imageWord(p uint64, i int) uint64 {
	return (p+1)*0x9E3779B97F4A7C15 ^ uint64(i*8)<<32 | 1
}

// wordsPerPage is the words of a page.
const wordsPerPage = uffdclient.PageSize / 8
