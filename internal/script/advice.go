package script

import "fmt"

// Advice is a madvise advice. Each stands for the Linux MADV_* value of the
// same name; the zero value is no advice.
type Advice int

const (
	AdvDontneed Advice = iota + 1
	AdvFree
	AdvWillneed
	AdvNormal
	AdvRandom
	AdvSequential
	AdvDontfork
	AdvDofork
	AdvWipeonfork
	AdvKeeponfork
	AdvHugepage
	AdvNohugepage
	AdvDontdump
	AdvDodump
	AdvCold
	AdvPageout
	AdvPopulateRead
	AdvPopulateWrite
	AdvGuardInstall
	AdvGuardRemove
)

// adviceWords is indexed by Advice.
var adviceWords = [...]string{
	AdvDontneed:      "dontneed",
	AdvFree:          "free",
	AdvWillneed:      "willneed",
	AdvNormal:        "normal",
	AdvRandom:        "random",
	AdvSequential:    "sequential",
	AdvDontfork:      "dontfork",
	AdvDofork:        "dofork",
	AdvWipeonfork:    "wipeonfork",
	AdvKeeponfork:    "keeponfork",
	AdvHugepage:      "hugepage",
	AdvNohugepage:    "nohugepage",
	AdvDontdump:      "dontdump",
	AdvDodump:        "dodump",
	AdvCold:          "cold",
	AdvPageout:       "pageout",
	AdvPopulateRead:  "populate_read",
	AdvPopulateWrite: "populate_write",
	AdvGuardInstall:  "guard_install",
	AdvGuardRemove:   "guard_remove",
}

// Advices lists every advice, in declaration order.
func Advices() []Advice {
	a := make([]Advice, 0, len(adviceWords)-1)
	for i := AdvDontneed; int(i) < len(adviceWords); i++ {
		a = append(a, i)
	}
	return a
}

// String gives the script word ("dontneed", "populate_read").
func (a Advice) String() string {
	if a > 0 && int(a) < len(adviceWords) {
		return adviceWords[a]
	}
	return fmt.Sprintf("Advice(%d)", int(a))
}

func parseAdvice(s string) (Advice, error) {
	for i := 1; i < len(adviceWords); i++ {
		if adviceWords[i] == s {
			return Advice(i), nil
		}
	}
	return 0, fmt.Errorf("unknown advice %q", s)
}
