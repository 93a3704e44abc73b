package pool

import (
	"context"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/actor"
)

// Defaults of the options below.
const (
	// DefaultIdleTimeout is how long a worker may wait for a task before it
	// exits (it is respawned on demand).
	DefaultIdleTimeout = 10 * time.Second
	// DefaultCrashLimit and DefaultCrashWindow: more than this many worker
	// deaths within the window break the pool.
	DefaultCrashLimit  = 10
	DefaultCrashWindow = 10 * time.Second
)

// An Option configures a pool.
type Option func(*config)

type config struct {
	workers     int
	idleTimeout time.Duration
	maxTasks    int
	maxRSS      int64
	crashLimit  int
	crashWindow time.Duration
	env         []string
	init        *initializer
	actorOpts   []actor.Option
}

// initializer runs a registered function once in each new worker.
type initializer struct {
	name string
	arg  []byte // the encoded argument, so that configs compare
	run  func(ctx context.Context, ref *actor.Ref) error
}

func newConfig(opts []Option) config {
	c := config{
		workers:     CPUCount(),
		idleTimeout: DefaultIdleTimeout,
		crashLimit:  DefaultCrashLimit,
		crashWindow: DefaultCrashWindow,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// sameBut reports whether two configurations are equal but for the worker
// count: such a pool can be resized in place.
func (c config) sameBut(o config) bool {
	sameInit := c.init == o.init || (c.init != nil && o.init != nil &&
		c.init.name == o.init.name && string(c.init.arg) == string(o.init.arg))
	return c.idleTimeout == o.idleTimeout && c.maxTasks == o.maxTasks && c.maxRSS == o.maxRSS &&
		c.crashLimit == o.crashLimit && c.crashWindow == o.crashWindow &&
		slices.Equal(c.env, o.env) && sameInit && len(c.actorOpts) == 0 && len(o.actorOpts) == 0
}

// WithWorkers sets the number of workers (default [CPUCount]). It panics
// if n < 1.
func WithWorkers(n int) Option {
	if n < 1 {
		panic("pool: WithWorkers needs n >= 1")
	}
	return func(c *config) { c.workers = n }
}

// WithIdleTimeout sets how long an unused worker lives before it exits
// (default [DefaultIdleTimeout]; zero or less: never).
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// WithMaxTasks replaces a worker after it has run n tasks (a batch of Map
// counts as one); zero means never.
func WithMaxTasks(n int) Option { return func(c *config) { c.maxTasks = n } }

// WithMaxMemory replaces a worker whose resident set is over bytes after
// its current task. It is measured on Linux; elsewhere it does nothing.
func WithMaxMemory(bytes int64) Option { return func(c *config) { c.maxRSS = bytes } }

// WithCrashLimit breaks the pool when more than n workers die within
// window (default [DefaultCrashLimit] within [DefaultCrashWindow]).
func WithCrashLimit(n int, window time.Duration) Option {
	return func(c *config) { c.crashLimit, c.crashWindow = n, window }
}

// WithEnv adds "KEY=value" entries to the workers' environment.
func WithEnv(kv ...string) Option {
	return func(c *config) { c.env = append(slices.Clone(c.env), kv...) }
}

// WithActorOptions passes options to the spawn of every worker (output,
// grace periods, executable...).
func WithActorOptions(opts ...actor.Option) Option {
	return func(c *config) { c.actorOpts = append(slices.Clone(c.actorOpts), opts...) }
}

// WithInitializer runs f(in) once in each new worker before its first task.
// Its failure is an [*InitError] that breaks the pool, never a crash loop.
func WithInitializer[In, Out any](f *actor.Function[In, Out], in In) Option {
	arg, _ := msgpack.Marshal(in)
	init := &initializer{name: f.Name(), arg: arg, run: func(ctx context.Context, ref *actor.Ref) error {
		_, err := f.Call(ctx, ref, in)
		return err
	}}
	return func(c *config) { c.init = init }
}
