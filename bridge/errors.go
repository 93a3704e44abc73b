package bridge

import "errors"

var (
	// ErrLoopClosed is returned by Post (and Call) once the loop has ended.
	ErrLoopClosed = errors.New("bridge: loop closed")

	// ErrLoopRunning is returned by Run when called from code that is
	// already running on a loop: use RunSync there.
	ErrLoopRunning = errors.New("bridge: cannot run a loop from code running on a loop")

	// ErrLoopBlocked is returned by Call when the target loop is blocked in
	// a RunSync that is waiting for the very work making the call.
	ErrLoopBlocked = errors.New("bridge: loop is blocked waiting for this call's own work")
)
