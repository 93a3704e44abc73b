package cluster

import "syscall"

// undumpable makes this process non-dumpable (prctl PR_SET_DUMPABLE 0):
// its /proc/<pid>/environ, mem and maps become root's, so an actor of the
// same uid cannot read the agent's credentials from them. Its children
// are dumpable again after their exec.
func undumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
