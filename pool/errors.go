package pool

import (
	"errors"
	"fmt"

	"github.com/grove-rt/grove/actor"
)

var (
	// ErrShutdown is matched by the futures of the queued and running tasks
	// that [Pool.Close] cut, and by every Submit and Map after a
	// [Pool.Shutdown] or Close, or after [Shared] replaced the pool.
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

// misuse explains a nil pool or function given to op, or returns nil.
func misuse[In, Out any](op string, p *Pool, fn *actor.Function[In, Out]) error {
	switch {
	case p == nil:
		return fmt.Errorf("pool: %s on a nil *Pool: create it with pool.New, pool.Start or pool.Shared", op)
	case fn == nil:
		return fmt.Errorf("pool: %s of a nil *actor.Function[%T, %T]: declare it with actor.Func", op, *new(In), *new(Out))
	}
	return nil
}
