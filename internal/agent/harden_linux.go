package agent

import "golang.org/x/sys/unix"

// Harden makes the agent's process undumpable: other processes of the same
// user, the runs' included, can then neither read its memory nor its
// /proc/<pid>/environ, where the agent token may be. Runs are new programs
// (execve resets the flag) and are not affected. It applies to the whole
// process, so the agent's command calls it once at start.
func Harden() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }

// dumpable reports the flag Harden clears.
func dumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
