//go:build !linux

package actor

import (
	"context"
	"os/exec"
	"syscall"
)

// Where there is no Pdeathsig, any goroutine may fork: the child's watch on
// its link (EOF when the parent dies) is the guard there.

func sysProcAttr() *syscall.SysProcAttr { return nil }

// startCmd starts cmd on the calling goroutine's thread; there is nothing
// to release.
func startCmd(ctx context.Context, cmd *exec.Cmd) (release func(), err error) {
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() {}, nil
}

// reap waits for cmd's process to exit and reaps it. It blocks a thread
// in wait4 for as long as the child lives (kqueue's EVFILT_PROC would
// spare it; not done yet).
func reap(cmd *exec.Cmd) error { return cmd.Wait() }
