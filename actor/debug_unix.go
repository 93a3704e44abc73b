//go:build unix

package actor

import (
	"errors"
	"fmt"
	"syscall"
)

// processExists says whether process pid exists. One of another user
// (EPERM) does: its socket's guards then say no.
func processExists(pid int) error {
	switch err := syscall.Kill(pid, 0); {
	case err == nil, errors.Is(err, syscall.EPERM):
		return nil
	case errors.Is(err, syscall.ESRCH):
		return fmt.Errorf("actor: debug client: no process %d is running", pid)
	default:
		return fmt.Errorf("actor: debug client: process %d: %w", pid, err)
	}
}
