//go:build !linux

package agent

// Harden does nothing where prctl(PR_SET_DUMPABLE) does not exist.
func Harden() error { return nil }

func dumpable() (bool, error) { return true, nil }
