//go:build unix

package pool_test

import (
	"os"
	"syscall"
)

// die ends this worker by signal sig.
func die(sig int) {
	if syscall.Signal(sig) == syscall.SIGSEGV {
		segfault()
	}
	_ = syscall.Kill(os.Getpid(), syscall.Signal(sig))
	select {}
}

// kill SIGKILLs process pid.
func kill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
