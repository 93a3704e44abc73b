//go:build unix

package actor

import (
	"errors"
	"fmt"
	"syscall"
)

// processExists says whether process pid exists, and is this user's.
func processExists(pid int) error {
	switch err := syscall.Kill(pid, 0); {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ESRCH):
		return fmt.Errorf("actor: debug client: no process %d is running", pid)
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("actor: debug client: process %d: permission denied: it runs as another user; run grove as that user: %w", pid, err)
	default:
		return fmt.Errorf("actor: debug client: process %d: %w", pid, err)
	}
}
