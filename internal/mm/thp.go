package mm

// pmdSize is the size of a huge page that one page-middle-directory
// entry maps on x86-64: 2 MiB (HPAGE_PMD_SIZE).
const pmdSize = 2 << 20

// THPAligner is implemented by a File whose file system places mappings
// of it so that file offsets and addresses agree modulo a huge page
// (its get_unmapped_area is thp_get_unmapped_area: ext4, xfs, btrfs...).
// It matters only in a space configured with THPAlign.
type THPAligner interface {
	THPAligned() bool
}

// getUnmappedArea chooses where a mapping goes (__get_unmapped_area).
// With the space's THPAlign set it follows a kernel with transparent huge
// pages configured in (CONFIG_TRANSPARENT_HUGEPAGE, whatever the sysfs
// setting): an anonymous private mapping with no hint and a length that
// is a multiple of 2 MiB, and a mapping of a THPAligner file, are placed
// huge-page aligned by thp_get_unmapped_area. Shared anonymous memory
// goes through shmem_get_unmapped_area, which aligns only when shmem huge
// pages are on; that is not modelled (the kernel's default is off).
func (s *Space) getUnmappedArea(x *session, addr, length uint64, fixed, shared bool, vmf Flags, f File, pgoff uint64) (uint64, error) {
	if !fixed && s.thpAlign {
		thp := false
		if f != nil {
			ta, ok := f.(THPAligner)
			thp = ok && ta.THPAligned()
		} else {
			thp = !shared && addr == 0 && length%pmdSize == 0
			pgoff = 0 // always zero for anonymous memory
		}
		if thp {
			if a, ok := s.thpUnmappedArea(x, addr, length, pgoff<<pageShift, vmf); ok {
				return a, nil
			}
		}
	}
	return s.unmappedArea(x, addr, length, fixed, vmf)
}

// thpUnmappedArea is __thp_get_unmapped_area: it looks for room for the
// mapping plus a huge page, then moves the start up to the first address
// that agrees with the file offset modulo a huge page (top-down, a start
// that already agrees moves up by a whole huge page, as the kernel does).
// ok is false where the kernel falls back to a plain search: a mapping
// that does not cover a whole aligned huge page of the file, or no room
// for the padded length. A hint that fits the padded length is taken as
// it is.
func (s *Space) thpUnmappedArea(x *session, addr, length, off uint64, vmf Flags) (uint64, bool) {
	offEnd := off + length
	offAlign := (off + pmdSize - 1) &^ (pmdSize - 1)
	if offEnd <= offAlign || offEnd-offAlign < pmdSize {
		return 0, false
	}
	lenPad := length + pmdSize
	if lenPad < length || off+lenPad < off {
		return 0, false
	}
	ret, err := s.unmappedArea(x, addr, lenPad, false, vmf)
	if err != nil {
		return 0, false
	}
	if ret == addr {
		return addr, true
	}
	offSub := (off - ret) & (pmdSize - 1)
	if offSub == 0 { // MMF_TOPDOWN: the space always places top-down
		return ret + pmdSize, true
	}
	return ret + offSub, true
}
