package actor

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/grove-rt/grove/transport"
)

// Defaults of the spawn options.
const (
	// DefaultGrace is how long a cancelled actor has to exit after the
	// cancel message before it gets SIGTERM.
	DefaultGrace = 2 * time.Second
	// DefaultKillDelay is how long it has after SIGTERM before SIGKILL.
	DefaultKillDelay = 2 * time.Second
	// DefaultStartTimeout bounds the spawn: the process must complete the
	// handshake (by calling Main) within it.
	DefaultStartTimeout = 10 * time.Second
)

// An Option configures Spawn.
type Option func(*config)

type config struct {
	env          []string
	replaceEnv   bool
	dir          string
	args         []string
	exe          string
	output       io.Writer
	stderr       io.Writer
	placer       Placer
	grace        time.Duration
	killDelay    time.Duration
	nice         int
	startTimeout time.Duration
	idleWarning  time.Duration
	backend      Backend
	strict       bool
	host         string // WithHost's

	logger  *slog.Logger    // WithLogger's
	cmdHook func(*exec.Cmd) // WithCmd's

	// start replaces the process spawn, for tests that simulate a sandbox.
	start func(ctx context.Context, name string, cfg config) (*Ref, error)
	// handshake replaces transport.FileConn in the parent, for tests that
	// simulate its failures.
	handshake func(ctx context.Context, f *os.File, side transport.Side, opts ...transport.Option) (*transport.Conn, error)
}

func newConfig(opts []Option) config {
	c := config{grace: DefaultGrace, killDelay: DefaultKillDelay, startTimeout: DefaultStartTimeout,
		idleWarning: DefaultIdleWarning}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithEnv adds "KEY=value" entries to the environment the actor inherits.
func WithEnv(kv ...string) Option {
	return func(c *config) { c.env = append(c.env, kv...) }
}

// WithEnvOnly gives the actor exactly env instead of this process's
// environment (grove adds only the variables of its own protocol).
func WithEnvOnly(env ...string) Option {
	return func(c *config) { c.env, c.replaceEnv = append([]string(nil), env...), true }
}

// WithHost names the host the actor runs on in its identity
// ([transport.ActorID.Host]), so that every error it raises or relays
// names that host: what a host agent passes to [StartProcess] for the
// actors it starts. Without it, an actor takes the host of the actor that
// spawns it (none for a program's root); an actor spawned through
// [OnHost] takes the host its Placer reports. It does not make [Ref.Host]
// report a host: that is where a Placer put the actor.
func WithHost(host string) Option { return func(c *config) { c.host = host } }

// hostFor is the host of an actor spawned under ctx: WithHost's, or the
// spawner's own.
func (c *config) hostFor(ctx context.Context) string {
	if c.host != "" {
		return c.host
	}
	return identity(ctx).Host
}

// WithDir sets the actor's working directory.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithArgs sets extra command-line arguments for the actor's process.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append([]string(nil), args...) }
}

// WithExecutable runs another executable than this one. It must call
// [Main] first in main and register the functions it will be asked to run.
func WithExecutable(path string) Option { return func(c *config) { c.exe = path } }

// WithOutput sends the actor's stdout and stderr, line by line and prefixed
// with its name, to w instead of this process's stderr. Each line is one
// Write, and the writes of all actors are serialised; if other code writes
// to w at the same time, w must be safe for that.
func WithOutput(w io.Writer) Option { return func(c *config) { c.output = w } }

// WithStderr sends the actor's stderr, line by line as [WithOutput] does,
// to w instead of WithOutput's writer (which then gets its stdout alone).
// The tail of stderr in an [*ExitError] is kept either way.
func WithStderr(w io.Writer) Option { return func(c *config) { c.stderr = w } }

// WithGrace sets how long a cancelled actor may take to exit before SIGTERM
// (default [DefaultGrace]).
func WithGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithKillDelay sets how long after SIGTERM the actor gets SIGKILL (default
// [DefaultKillDelay]).
func WithKillDelay(d time.Duration) Option { return func(c *config) { c.killDelay = d } }

// WithStartTimeout bounds the spawn (default [DefaultStartTimeout]).
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithNice starts the actor's process n steps nicer than this one (as
// nice(1) -n does: its niceness is this process's plus n, at most 19), so
// that busy actors cannot starve their parent, whose cancel ladder, reaping
// and dispatch then get the CPU first. On Linux every thread of the child
// starts at that niceness (its forking thread has it, see the spawner); on
// other Unix systems the process is reniced right after the fork. A
// negative n (less nice than this process) needs privilege (CAP_SYS_NICE on
// Linux): without it the spawn fails with an error that says so, matching
// syscall.EACCES or EPERM. It applies to [StartProcess] too, and is ignored
// where the actor has no process of its own (the goroutine backend) or runs
// on another host ([OnHost]: the Placer decides there).
func WithNice(n int) Option { return func(c *config) { c.nice = n } }
