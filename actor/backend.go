package actor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// A Backend is where actors run: in child processes, or on goroutines of
// this process.
//
// The goroutine backend runs the same functions over the same wire, but
// gives up what only a process has: an actor's crash (a panic outside a
// call, os.Exit, a fatal signal, running out of memory) ends the whole
// program instead of failing its task; a function that ignores its ctx
// cannot be killed (it is abandoned after the kill delay); and the actor
// shares this process's memory, limits, stdout, stderr and pid.
type Backend string

// The backends. [BackendAuto], the default, uses processes where they can
// be spawned and falls back to goroutines where they cannot: under GOOS=js
// and wasip1 (silently: there are no processes there), on Windows (process
// actors are not supported there yet), or where the first spawn fails with
// ENOSYS or EPERM (a sandbox), as joblib falls back to threads in Pyodide.
// That switch at run time logs one warning through log/slog (once per
// process, to the [WithLogger] of the spawn that found out, else
// [slog.Default]), because of what the goroutine backend gives up.
const (
	BackendProcess   Backend = "process"
	BackendGoroutine Backend = "goroutine"
	BackendAuto      Backend = "auto"
	// BackendRemote is what [Tree] reports for an actor on another host
	// ([OnHost]); it is not a choice for WithBackend.
	BackendRemote Backend = "remote"
)

// envBackend chooses the backend when no WithBackend option does.
const envBackend = "GROVE_BACKEND"

// WithBackend chooses the backend of this actor, over GROVE_BACKEND. When
// [BackendProcess] is asked for and processes cannot be spawned, the actor
// falls back to goroutines with one warning through log/slog (once per
// process), or fails if [WithStrictBackend] is given too.
func WithBackend(b Backend) Option { return func(c *config) { c.backend = b } }

// WithStrictBackend makes an explicit backend that cannot work an error
// instead of a fallback.
func WithStrictBackend() Option { return func(c *config) { c.strict = true } }

// processesUnsupported is learnt at the first spawn that fails for want of
// processes; from then on auto goes straight to goroutines. Like the
// warning below, it is a fact about this process, hence process-wide.
var (
	processesUnsupported atomic.Bool
	fallbackWarning      sync.Once
)

// backendOf resolves the backend for cfg.
func backendOf(cfg config) (Backend, error) {
	b := cfg.backend
	if b == "" {
		b = Backend(strings.ToLower(strings.TrimSpace(os.Getenv(envBackend))))
	}
	switch b {
	case "", BackendAuto:
		return BackendAuto, nil
	case BackendProcess, BackendGoroutine:
		return b, nil
	}
	return "", fmt.Errorf("actor: unknown backend %q (want process, goroutine or auto)", b)
}

// processSupport decides whether actors can be child processes on goos.
// It returns nil where they can: on the Unix systems, whose socketpairs,
// descriptor passing and signals the process backend is built on (its
// files carry the unix build constraint). Elsewhere it says why not, in an
// error that names the platform and wraps errors.ErrUnsupported, which
// makes spawn fall back to goroutines (or refuse, if strict).
func processSupport(goos string) error {
	switch goos {
	case "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios",
		"linux", "netbsd", "openbsd", "solaris":
		return nil
	}
	if noProcessesAt(goos) {
		return fmt.Errorf("actor: there are no processes to spawn under GOOS=%s: %w", goos, errors.ErrUnsupported)
	}
	return fmt.Errorf("actor: process actors are not supported on %s yet (they need Unix sockets and descriptor passing); "+
		"run actors on goroutines (actor.WithBackend(actor.BackendGoroutine)) or on a Unix host (actor.OnHost): %w",
		goos, errors.ErrUnsupported)
}

// noProcessesAt reports whether goos has no processes at all (js, wasip1):
// auto goes to goroutines there without a try, and without a warning.
func noProcessesAt(goos string) bool { return goos == "js" || goos == "wasip1" }

// noProcesses reports whether err says processes cannot be spawned here:
// processSupport's error, or os/exec's under js and wasip1, syscall.ENOSYS,
// which also matches errors.ErrUnsupported.
func noProcesses(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.ENOSYS) ||
		errors.Is(err, syscall.EPERM)
}

// spawn starts the actor on the backend cfg asks for.
func spawn(ctx context.Context, name string, cfg config) (*Ref, error) {
	if cfg.placer != nil {
		return spawnRemote(ctx, name, cfg)
	}
	b, err := backendOf(cfg)
	if err != nil {
		return nil, err
	}
	if b == BackendGoroutine ||
		b == BackendAuto && (noProcessesAt(runtime.GOOS) || processesUnsupported.Load()) {
		return startGoroutine(ctx, name, cfg)
	}
	start := startProcess
	if cfg.start != nil {
		start = cfg.start
	}
	r, err := start(ctx, name, cfg)
	if err == nil || !noProcesses(err) {
		return r, err
	}
	processesUnsupported.Store(true)
	if b == BackendProcess && cfg.strict {
		return nil, fmt.Errorf("actor: spawn %s: the process backend was required and cannot work here: %w", name, err)
	}
	fallbackWarning.Do(func() {
		cfg.warnLog().Warn("actor: processes cannot be spawned here; actors run on goroutines instead",
			"backend", string(b), "err", err, logKeyName, name,
			"gives_up", "an actor's crash ends the whole program, and a function that ignores its ctx cannot be killed",
			"fix", "actor.WithStrictBackend makes this an error")
	})
	return startGoroutine(ctx, name, cfg)
}
