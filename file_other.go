//go:build !unix

package vmspace

import (
	"errors"
	"os"
)

func osIdent(f *os.File) (FileID, bool, bool, error) {
	return FileID{}, false, false, errors.New("vmspace: OSFile needs a Unix system")
}
