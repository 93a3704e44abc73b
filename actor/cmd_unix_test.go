//go:build unix

package actor_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// hookFDEnv tells readHookFD which descriptor WithCmd's hook passed.
const hookFDEnv = "ACTOR_TEST_HOOK_FD"

// readHookFD reads the file whose descriptor WithCmd's hook passed.
var readHookFD = actor.Func("test.readHookFD", func(ctx context.Context, _ struct{}) (string, error) {
	fd, err := strconv.Atoi(os.Getenv(hookFDEnv))
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(fd), "hooked")
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
})

// WithCmd's hook sets an environment variable the actor reads, and appends
// a file the actor reads by its number.
func TestWithCmdEnvAndExtraFile(t *testing.T) {
	proctest.NeedsProcesses(t, "a process to start")
	proctest.NoChildrenLeft(t)
	path := filepath.Join(t.TempDir(), "passed")
	require.NoError(t, os.WriteFile(path, []byte("through fd"), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	hook := func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, "ACTOR_TEST_HOOKED=yes", hookFDEnv+"="+strconv.Itoa(3+len(cmd.ExtraFiles)))
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	err = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "hooked", actor.WithCmd(hook))
		if err != nil {
			return err
		}
		f.Close() // the child has its own
		env, err := describe.Call(ctx, ref, "ACTOR_TEST_HOOKED")
		require.NoError(t, err)
		require.Equal(t, "yes", env.Var)
		got, err := readHookFD.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.Equal(t, "through fd", got)
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

// A hook that breaks what the spawn needs fails the spawn with an error
// that names what it changed and what to use instead, and starts nothing
// (or kills and reaps what it started).
func TestWithCmdMisuse(t *testing.T) {
	proctest.NeedsProcesses(t, "a process to start")
	proctest.NoChildrenLeft(t)
	cases := []struct {
		name string
		hook func(*exec.Cmd)
		want string
	}{
		{"args cleared", func(c *exec.Cmd) { c.Args = nil }, "changed cmd.Path or cmd.Args: use WithExecutable and WithArgs"},
		{"path changed", func(c *exec.Cmd) { c.Path = "/bin/true" }, "changed cmd.Path or cmd.Args"},
		{"stdout set", func(c *exec.Cmd) { c.Stdout = io.Discard }, "use WithOutput, WithStderr or WithLogger"},
		{"stdin set", func(c *exec.Cmd) { c.Stdin = os.Stdin }, "set cmd.Stdin, cmd.Stdout or cmd.Stderr"},
		{"extra files replaced", func(c *exec.Cmd) { c.ExtraFiles = []*os.File{os.Stdin} }, "the actor's link (fd 3) and grove's: append to cmd.ExtraFiles instead"},
		{"extra files cleared", func(c *exec.Cmd) { c.ExtraFiles = nil }, "append to cmd.ExtraFiles instead"},
		{"env replaced", func(c *exec.Cmd) { c.Env = []string{"PATH=/bin"} }, "dropped or overrode GROVE_ACTOR in cmd.Env"},
		{"env cleared", func(c *exec.Cmd) { c.Env = nil }, "dropped or overrode GROVE_ACTOR in cmd.Env"},
		{"grove's variable overridden", func(c *exec.Cmd) { c.Env = append(c.Env, "GROVE_ACTOR_ID=other") }, "dropped or overrode GROVE_ACTOR_ID"},
		{"started", func(c *exec.Cmd) { _ = c.Start() }, "started cmd: leave the start to Spawn"},
		{"panicked", func(c *exec.Cmd) { panic("hook failure") }, "WithCmd's hook panicked: hook failure"},
		// The process it started is killed and reaped all the same.
		{"started, then panicked", func(c *exec.Cmd) { _ = c.Start(); panic("after the start") }, "started cmd: leave the start to Spawn"},
	}
	if runtime.GOOS == "linux" { // where grove sets SysProcAttr (Pdeathsig)
		cases = append(cases, []struct {
			name string
			hook func(*exec.Cmd)
			want string
		}{
			{"sysprocattr replaced", func(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }, "set its fields instead"},
			// The child would outlive this process.
			{"pdeathsig cleared", setPdeathsig(0), "changed cmd.SysProcAttr.Pdeathsig"},
			{"pdeathsig softened", setPdeathsig(syscall.SIGTERM), "changed cmd.SysProcAttr.Pdeathsig"},
		}...)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
				_, err := actor.Spawn(ctx, n, "misused", actor.WithCmd(tc.hook))
				n.Cancel(nil) // an actor the checks let through must not hold Run
				return err
			})
			require.ErrorContains(t, err, "actor: spawn misused: WithCmd's hook ")
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// setPdeathsig is a hook that sets SysProcAttr.Pdeathsig, a field of
// Linux's alone (hence reflect, for this file's other systems).
func setPdeathsig(sig syscall.Signal) func(*exec.Cmd) {
	return func(c *exec.Cmd) { reflect.ValueOf(c.SysProcAttr).Elem().FieldByName("Pdeathsig").SetInt(int64(sig)) }
}

// The hook may set SysProcAttr's fields: here a process group of the
// actor's own.
func TestWithCmdSysProcAttr(t *testing.T) {
	proctest.NeedsProcesses(t, "a process to start")
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "leader", actor.WithCmd(func(c *exec.Cmd) {
			if c.SysProcAttr == nil {
				c.SysProcAttr = &syscall.SysProcAttr{}
			}
			c.SysProcAttr.Setpgid = true
		}))
		if err != nil {
			return err
		}
		pgid, err := syscall.Getpgid(ref.PID())
		require.NoError(t, err)
		require.Equal(t, ref.PID(), pgid, "the actor leads a group of its own")
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

// A refused hook's files on the child's side of cmd (the read end of
// StdinPipe, a file it opened for Stdout, files it appended to ExtraFiles)
// are closed by the spawn, which will not start them; the ends it kept (the
// writer StdinPipe returned) are its own to close.
func TestWithCmdRefusedClosesTheHooksFiles(t *testing.T) {
	proctest.NeedsProcesses(t, "a process to start")
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd to count descriptors in")
	}
	proctest.NoChildrenLeft(t)
	devNull := func() *os.File {
		f, err := os.Open(os.DevNull)
		require.NoError(t, err)
		return f
	}
	cases := []struct {
		name string
		hook func(*exec.Cmd)
	}{
		{"stdin pipe", func(c *exec.Cmd) {
			w, err := c.StdinPipe()
			require.NoError(t, err)
			require.NoError(t, w.Close()) // the hook's own end
		}},
		{"stdin file", func(c *exec.Cmd) { c.Stdin = devNull() }},
		{"stdout file", func(c *exec.Cmd) { c.Stdout = devNull() }},
		{"extra file, then a panic", func(c *exec.Cmd) { c.ExtraFiles = append(c.ExtraFiles, devNull()); panic("after the append") }},
	}
	spawn := func(hook func(*exec.Cmd)) {
		err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			_, err := actor.Spawn(ctx, n, "refused", actor.WithCmd(hook))
			n.Cancel(nil)
			return err
		})
		require.ErrorContains(t, err, "WithCmd's hook ")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spawn(tc.hook) // the first spawn's own descriptors (the poller's, say) are not the hook's
			before := openFDs(t)
			for range 3 {
				spawn(tc.hook)
			}
			require.Equal(t, before, openFDs(t), "descriptors left open by refused spawns")
		})
	}
}
