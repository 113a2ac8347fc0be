package script

import (
	"fmt"
	"strings"
)

// MapFlags are the mmap flags a script can name. Each stands for the Linux
// MAP_* flag of the same name (noreplace is MAP_FIXED_NOREPLACE); private
// and shared together mean MAP_SHARED_VALIDATE, which Linux rejects for
// anonymous memory. Every script mapping is anonymous whether or not anon
// is written.
type MapFlags uint32

const (
	FlagPrivate MapFlags = 1 << iota
	FlagShared
	FlagAnon
	FlagFixed
	FlagNoreplace
	FlagGrowsdown
	FlagPopulate
	FlagNoreserve
	FlagLocked
	FlagStack
)

// flagWords lists the script words in their canonical order.
var flagWords = []struct {
	flag MapFlags
	word string
}{
	{FlagPrivate, "private"},
	{FlagShared, "shared"},
	{FlagAnon, "anon"},
	{FlagFixed, "fixed"},
	{FlagNoreplace, "noreplace"},
	{FlagGrowsdown, "growsdown"},
	{FlagPopulate, "populate"},
	{FlagNoreserve, "noreserve"},
	{FlagLocked, "locked"},
	{FlagStack, "stack"},
}

// String gives the comma list in canonical order ("private,anon,fixed").
func (f MapFlags) String() string {
	var words []string
	for _, fw := range flagWords {
		if f&fw.flag != 0 {
			words = append(words, fw.word)
		}
	}
	if rest := f &^ (FlagStack<<1 - 1); rest != 0 {
		words = append(words, fmt.Sprintf("%#x", uint32(rest)))
	}
	return strings.Join(words, ",")
}

// parseFlags reads a comma list of flag words, in any order.
func parseFlags(s string) (MapFlags, error) {
	var f MapFlags
	for _, w := range strings.Split(s, ",") {
		found := false
		for _, fw := range flagWords {
			if w == fw.word {
				f |= fw.flag
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("flags %q: unknown flag %q", s, w)
		}
	}
	return f, nil
}
