package actor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

var whereAmI = Func("actor.internal.pid", func(ctx context.Context, _ int) (int, error) { return os.Getpid(), nil })

// sandboxed stands for a spawn in a sandbox that forbids fork and exec.
func sandboxed(context.Context, string, config) (*Ref, error) {
	return nil, fmt.Errorf("fork/exec: %w", syscall.EPERM)
}

// onWindows stands for a spawn on Windows, as startProcess fails there.
func onWindows(context.Context, string, config) (*Ref, error) {
	return nil, processSupport("windows")
}

// cleanFallback resets the fallback's memory and its warning, which are
// process-wide, for t, and again once t is done for the other tests.
func cleanFallback(t *testing.T) (reset func()) {
	reset = func() {
		processesUnsupported.Store(false)
		fallbackWarning = sync.Once{}
	}
	reset()
	t.Cleanup(reset)
	return reset
}

// TestFallback: where processes cannot be spawned (a sandbox; Windows),
// auto and an explicit process backend fall back to goroutines with one
// warning, and a strict process backend refuses with the cause.
func TestFallback(t *testing.T) {
	reset := cleanFallback(t)
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	cases := []struct {
		name   string
		start  func(context.Context, string, config) (*Ref, error)
		cause  error
		strict string // in the strict refusal, after "the process backend was required"
	}{
		{"sandbox", sandboxed, syscall.EPERM, "cannot work here: fork/exec"},
		{"windows", onWindows, errors.ErrUnsupported, "cannot work here: actor: process actors are not supported on windows yet " +
			"(they need Unix sockets and descriptor passing); run actors on goroutines (actor.WithBackend(actor.BackendGoroutine))"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reset()
			logs.Reset()
			spawnAndCall := func(opts ...Option) error {
				return nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
					ref, err := Spawn(ctx, n, "sandboxed", append(opts, func(cfg *config) { cfg.start = c.start })...)
					if err != nil {
						return err
					}
					pid, err := whereAmI.Call(ctx, ref, 0)
					if err != nil {
						return err
					}
					if pid != os.Getpid() {
						return fmt.Errorf("the actor ran in pid %d, not on a goroutine here", pid)
					}
					n.Cancel(nil)
					return nil
				})
			}

			warnings := func() int { return strings.Count(logs.String(), "processes cannot be spawned here") }
			require.NoError(t, spawnAndCall(WithBackend(BackendAuto)), "auto falls back to goroutines")
			require.NoError(t, spawnAndCall(WithBackend(BackendAuto)))
			if noProcessesAt(runtime.GOOS) {
				require.Zero(t, warnings(), "silently where there are no processes: %s", logs.String())
			} else {
				require.Equal(t, 1, warnings(), "with one warning: %s", logs.String())
				require.Contains(t, logs.String(), "an actor's crash ends the whole program", "that says what is given up")
			}

			reset()
			logs.Reset()
			require.NoError(t, spawnAndCall(WithBackend(BackendProcess)), "an explicit process backend falls back too")
			require.NoError(t, spawnAndCall(WithBackend(BackendProcess)))
			require.Equal(t, 1, warnings(), "with one warning: %s", logs.String())

			err := spawnAndCall(WithBackend(BackendProcess), WithStrictBackend())
			require.ErrorIs(t, err, c.cause, "strict: an error, no fallback")
			require.ErrorContains(t, err, "actor: spawn sandboxed: the process backend was required and "+c.strict)

			err = spawnAndCall(WithBackend("threads"))
			require.ErrorContains(t, err, `unknown backend "threads"`)
		})
	}
}

// TestProcessSupport decides, for every GOOS Go has a port to, whether
// actors can be processes there, and checks the decision against the build
// constraints of the files that implement each side: process.go is built
// exactly where processes are supported, process_other.go everywhere else.
func TestProcessSupport(t *testing.T) {
	t.Parallel()
	cases := []struct {
		goos   string
		want   string // "" where processes are supported
		silent bool   // no processes at all: auto does not even try
	}{
		{goos: "linux"}, {goos: "android"}, {goos: "darwin"}, {goos: "ios"},
		{goos: "freebsd"}, {goos: "netbsd"}, {goos: "openbsd"}, {goos: "dragonfly"},
		{goos: "illumos"}, {goos: "solaris"}, {goos: "aix"},
		{goos: "js", want: "actor: there are no processes to spawn under GOOS=js", silent: true},
		{goos: "wasip1", want: "actor: there are no processes to spawn under GOOS=wasip1", silent: true},
		{goos: "windows", want: "actor: process actors are not supported on windows yet"},
		{goos: "plan9", want: "actor: process actors are not supported on plan9 yet"},
	}
	for _, c := range cases {
		t.Run(c.goos, func(t *testing.T) {
			t.Parallel()
			err := processSupport(c.goos)
			require.Equal(t, c.silent, noProcessesAt(c.goos))
			if c.want == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, c.want)
				require.ErrorIs(t, err, errors.ErrUnsupported, "the sentinel that makes spawn fall back")
				require.True(t, noProcesses(err))
			}
			if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
				return // the sources are not at hand there
			}
			arch := "amd64"
			if c.goos == "js" || c.goos == "wasip1" {
				arch = "wasm"
			}
			ctxt := build.Context{GOOS: c.goos, GOARCH: arch, Compiler: "gc"}
			for file, built := range map[string]bool{"process.go": err == nil, "process_other.go": err != nil} {
				match, merr := ctxt.MatchFile(".", file)
				require.NoError(t, merr)
				require.Equal(t, built, match, "%s is built on %s", file, c.goos)
			}
		})
	}
}

// The parent's own failure in the handshake (here EMFILE, as FileConn
// meets it when the descriptors run out after the fork) wins over the exit
// of the child it abandons, which exits 2 with nothing on stderr.
func TestSpawnOwnHandshakeErrorWins(t *testing.T) {
	proctest.NeedsProcesses(t, "a child to abandon")
	proctest.NoChildrenLeft(t)
	outOfDescriptors := func(c *config) {
		c.handshake = func(_ context.Context, f *os.File, _ transport.Side, _ ...transport.Option) (*transport.Conn, error) {
			f.Close()
			return nil, fmt.Errorf("transport: %s: %w", f.Name(), os.NewSyscallError("dup", syscall.EMFILE))
		}
	}
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := Spawn(ctx, n, "abandoned", outOfDescriptors)
		return err
	})
	require.ErrorIs(t, err, syscall.EMFILE)
	var ee *ExitError
	require.False(t, errors.As(err, &ee), "the child's exit hides the cause: %v", err)
}

// The fallback's warning goes to the logger of the spawn that found out,
// with the facts as attributes.
func TestSandboxFallbackWarningToLogger(t *testing.T) {
	cleanFallback(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := Spawn(ctx, n, "sandboxed", WithBackend(BackendProcess), WithLogger(logger),
			func(c *config) { c.start = sandboxed })
		n.Cancel(nil)
		return err
	})
	require.NoError(t, err)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(logs.Bytes(), &rec), logs.String())
	require.Equal(t, "WARN", rec["level"])
	require.Equal(t, "actor: processes cannot be spawned here; actors run on goroutines instead", rec["msg"])
	require.Equal(t, "process", rec["backend"])
	require.Equal(t, "sandboxed", rec["grove.actor.name"])
	require.Contains(t, rec["err"], syscall.EPERM.Error())
	require.Contains(t, rec["fix"], "WithStrictBackend")
}

// TestDebugSupport: the debug socket is served on Linux only, and the
// refusal elsewhere names the platform and matches errors.ErrUnsupported
// (TestDebugRefusedHere checks ServeDebug and the clients off Linux).
func TestDebugSupport(t *testing.T) {
	t.Parallel()
	require.NoError(t, debugSupport("linux"))
	for _, goos := range []string{"darwin", "freebsd", "windows", "js"} {
		err := debugSupport(goos)
		require.ErrorIs(t, err, errors.ErrUnsupported, goos)
		require.ErrorContains(t, err, goos)
	}
}
