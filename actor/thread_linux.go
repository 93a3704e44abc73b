package actor

import (
	"runtime"
	"syscall"
)

// lockThread pins the calling goroutine to its OS thread for good: the
// thread then ends with the goroutine, after the child it forked is gone.
func lockThread() { runtime.LockOSThread() }

// sysProcAttr makes the kernel SIGKILL the child when its parent (the
// thread that forked it) dies, by any means.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
