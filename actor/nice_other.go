//go:build !unix

package actor

import (
	"errors"
	"fmt"
)

// renice has no niceness to set where there is no setpriority.
func renice(pid, n int) error {
	return fmt.Errorf("actor: WithNice(%d): there is no niceness on this platform: drop WithNice: %w", n, errors.ErrUnsupported)
}
