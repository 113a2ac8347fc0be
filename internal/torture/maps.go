package torture

import (
	"fmt"

	"github.com/vmspace/vmspace/internal/mm"
)

// checkMaps checks that a listing is one consistent layout: sorted,
// non-overlapping, page-aligned, inside [base, end), with a valid
// protection, and no two adjacent areas that a sequential kernel would
// necessarily have merged is NOT checked here (that depends on history;
// the model tests check merges).
func checkMaps(ms []mm.Mapping, base, end uint64) error {
	prev := base
	for i, m := range ms {
		switch {
		case m.Start < prev:
			return fmt.Errorf("line %d [%#x,%#x) starts before the previous end %#x", i, m.Start, m.End, prev)
		case m.Start >= m.End:
			return fmt.Errorf("line %d [%#x,%#x) is empty", i, m.Start, m.End)
		case m.Start%mm.PageSize != 0 || m.End%mm.PageSize != 0:
			return fmt.Errorf("line %d [%#x,%#x) is not page-aligned", i, m.Start, m.End)
		case m.End > end:
			return fmt.Errorf("line %d [%#x,%#x) ends past %#x", i, m.Start, m.End, end)
		case m.Shared != (m.Flags&mm.VMShared != 0):
			return fmt.Errorf("line %d [%#x,%#x) shared %v but flags %#x", i, m.Start, m.End, m.Shared, m.Flags)
		}
		prev = m.End
	}
	return nil
}
