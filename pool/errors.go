package pool

import (
	"errors"
	"fmt"
)

var (
	// ErrShutdown is matched by the futures a Shutdown left unfinished and
	// by every Submit after it.
	ErrShutdown = errors.New("pool: shut down")

	// ErrBroken is matched by every future of a pool broken by a crash loop
	// (or a failing initializer); the error also wraps the last worker's
	// death.
	ErrBroken = errors.New("pool: broken")
)

// An InitError is the failure of the pool's initializer in a new worker.
// It breaks the pool (it would fail in every worker alike), and every
// pending and later future fails with it.
type InitError struct {
	Err error
}

func (e *InitError) Error() string { return fmt.Sprintf("pool: worker initializer failed: %v", e.Err) }

func (e *InitError) Unwrap() error { return e.Err }
