package bridge

import "errors"

var (
	// ErrLoopClosed is returned by Post (and Call) once the loop has ended.
	ErrLoopClosed = errors.New("bridge: loop closed")

	// ErrLoopRunning is returned by Run and Loop.Run when called from code
	// that is already running on a loop: use RunSync there.
	ErrLoopRunning = errors.New("bridge: cannot run a loop from code running on a loop")

	// ErrLoopBlocked is returned by Call when the call could never finish:
	// the target loop is blocked in a RunSync waiting for a slot of an
	// offload limiter, and every slot is held by work waiting in a Call
	// onto that loop, the calling work included (typically work started
	// from the loop with Go). Give such work a limiter of its own
	// (WithLimiter).
	ErrLoopBlocked = errors.New("bridge: loop is blocked waiting for this call's own work")
)
