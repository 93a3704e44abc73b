//go:build unix && !linux

package actor

import (
	"fmt"
	"os"
	"syscall"
)

// renice makes process pid n steps nicer than this process, within the
// range -20 to 19.
func renice(pid, n int) error {
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		return fmt.Errorf("actor: WithNice(%d): %w", n, os.NewSyscallError("getpriority", err))
	}
	target := min(max(cur+n, -20), 19)
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, pid, target); err != nil {
		return fmt.Errorf("actor: WithNice(%d): this process may not run an actor at niceness %d "+
			"(less nice than itself needs privilege): pass n >= 0: %w", n, target, os.NewSyscallError("setpriority", err))
	}
	return nil
}
