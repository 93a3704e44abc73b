package supervise

import (
	"context"

	"github.com/grove-rt/grove/actor"
)

// Instrumentation observes supervisors: an [actor.Instrumentation]
// registered with actor.SetInstrumentation that also implements it (as
// otelgrove's does) is told of each restart. Its method must be safe for
// concurrent use and must not block.
type Instrumentation interface {
	// SupervisorRestart is called when a supervisor restarts child, with
	// the supervisor's ctx and the child's restart count (this one
	// included); the function it returns is called once the restarted
	// child has started, or has failed to (its error).
	SupervisorRestart(ctx context.Context, child string, restarts int) func(err error)
}

// observeRestart tells the instrumentation, if any, of a restart of c:
// one atomic load when none is registered.
func (l *loop) observeRestart(c *child) func(inst *instance, ok bool) {
	i, _ := actor.GetInstrumentation().(Instrumentation)
	if i == nil {
		return func(*instance, bool) {}
	}
	end := i.SupervisorRestart(l.ctx, c.spec.Name, c.restarts)
	return func(inst *instance, ok bool) {
		if ok {
			end(nil)
		} else {
			end(startErr(inst))
		}
	}
}
