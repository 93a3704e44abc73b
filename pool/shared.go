package pool

import (
	"context"
	"sync"
)

// shared is the process-wide pool of Shared: by its nature, state of the
// whole process.
var shared struct {
	sync.Mutex
	p *Pool
}

// Shared returns the process-wide reusable pool, like loky's
// get_reusable_executor: the same pool again while its options are equal;
// resized in place when only the worker count changed (surviving workers
// keep their pids); a fresh pool when the options differ (the old one is
// shut down after its running tasks) or when it was shut down or broken.
// Options that cannot be compared (WithActorOptions) always give a fresh
// pool. Safe for concurrent use.
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
	if old := shared.p; old != nil {
		_ = old.Shutdown(context.Background(), false)
	}
	p, err := New(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	shared.p = p
	return p, nil
}
