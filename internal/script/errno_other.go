//go:build !linux

package script

func addPlatformErrnos() {}
