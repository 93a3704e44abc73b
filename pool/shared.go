package pool

import (
	"context"
	"fmt"
	"sync"
)

// shared is the process-wide pool of Shared: by its nature, state of the
// whole process.
var shared struct {
	sync.Mutex
	p *Pool
}

// errReplaced is what a handle to a pool that Shared replaced answers.
var errReplaced = fmt.Errorf("%w: replaced by a pool.Shared call with other options; "+
	"call pool.Shared again for the current pool, or use pool.New for a pool of your own", ErrShutdown)

// Shared returns the process-wide reusable pool, like loky's
// get_reusable_executor: the same pool again while its options are equal;
// resized in place when only the worker count changed (surviving workers
// keep their pids); a fresh pool when the options differ or when it was
// shut down or broken. Options that cannot be compared (WithActorOptions)
// always give a fresh pool. Safe for concurrent use.
//
// Shared never waits for tasks: under a process-wide lock it compares the
// options, or starts a pool (a goroutine; its workers spawn on demand).
// A replaced pool drains in the background: its queued and running tasks
// finish under the options they were submitted with, its futures answer,
// and its workers then exit. Its handle does not forward to the
// replacement, whose options differ: [Submit], [Map] and [Pool.Err] on it
// give an error matching [ErrShutdown] that says to call Shared again, and
// [Pool.Shutdown] on it waits for the drain.
func Shared(opts ...Option) (*Pool, error) {
	cfg := newConfig(opts)
	shared.Lock()
	defer shared.Unlock()
	if p := shared.p; p != nil && p.Err() == nil && p.cfg.sameBut(cfg) {
		if p.Workers() != cfg.workers {
			p.Resize(cfg.workers)
		}
		return p, nil
	}
	p, err := New(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	if old := shared.p; old != nil {
		old.close(false, errReplaced) // never blocks: the old pool drains on its own
	}
	shared.p = p
	return p, nil
}
