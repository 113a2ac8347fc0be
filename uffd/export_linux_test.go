package uffd

// SetTestHooks installs the handler's test hooks (nil removes them). Set
// them only while no handler runs.
func SetTestHooks(beforeMirror func(), fillErr func() error) {
	testBeforeMirror, testFillErr = beforeMirror, fillErr
}
