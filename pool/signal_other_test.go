//go:build !unix

package pool_test

import (
	"errors"
	"syscall"
)

var deathSignals []syscall.Signal

// No signals here: the tests that use these are skipped (NeedsProcesses).

func die(int) { panic("signals need processes") }

func kill(int) error { return errors.ErrUnsupported }
