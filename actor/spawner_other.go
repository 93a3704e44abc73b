//go:build !linux

package actor

import (
	"context"
	"log/slog"
	"os/exec"
	"syscall"
)

// Where there is no Pdeathsig, any goroutine may fork: the child's watch on
// its link (EOF when the parent dies) is the guard there.

func sysProcAttr() *syscall.SysProcAttr { return nil }

// parentDeathSignal is none: only Linux has Pdeathsig.
func parentDeathSignal(*syscall.SysProcAttr) syscall.Signal { return 0 }

// startCmd starts cmd on the calling goroutine's thread; there is nothing
// to release.
// An actor started WithNice(n) is reniced right after the fork (on the BSDs
// and macOS, setpriority applies to the whole process): its first instants
// run at this process's priority.
func startCmd(ctx context.Context, cmd *exec.Cmd, nice int, _ *slog.Logger) (watch *exitWatch, release func(), err error) {
	if err := context.Cause(ctx); err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	if nice != 0 {
		if err := renice(cmd.Process.Pid, nice); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, nil, err
		}
	}
	return nil, func() {}, nil
}

// exitWatch would wait for a child's exit without a thread; there is none
// here (kqueue's EVFILT_PROC would do it; not done yet).
type exitWatch struct{}

// reap waits for cmd's process to exit and reaps it. It blocks a thread
// in wait4 for as long as the child lives.
func (*exitWatch) reap(cmd *exec.Cmd) error { return cmd.Wait() }
