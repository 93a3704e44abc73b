package peer_test

import (
	"context"
	"errors"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/bench/internal/peer"
)

// TestMain lets this test binary act as the peer children it starts, then
// checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	peer.ChildMain()
	goleak.VerifyTestMain(m)
}

// requireGone asserts that pid names no process, not even a zombie: the
// child has exited and been reaped.
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Positive(t, pid)
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestPluginEcho(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p, err := peer.StartPlugin(ctx)
	require.NoError(t, err)
	pid := p.PID()
	require.NoError(t, syscall.Kill(pid, 0), "plugin process should be running")

	got, err := p.Echo(ctx, []byte("hello, plugin"))
	require.NoError(t, err)
	require.Equal(t, []byte("hello, plugin"), got)

	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i)
	}
	got, err = p.Echo(ctx, big)
	require.NoError(t, err)
	require.Equal(t, big, got)

	require.NoError(t, p.Close())
	requireGone(t, pid)
	require.NoError(t, p.Close(), "Close is idempotent")

	_, err = p.Echo(ctx, []byte("late"))
	require.Error(t, err)
}

func TestStartPluginCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := peer.StartPlugin(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestNetRPCEcho(t *testing.T) {
	r, err := peer.StartNetRPC()
	require.NoError(t, err)
	pid := peer.NetRPCPID(r)
	require.NoError(t, syscall.Kill(pid, 0), "net/rpc child should be running")

	got, err := r.Echo([]byte("hello, net/rpc"))
	require.NoError(t, err)
	require.Equal(t, []byte("hello, net/rpc"), got)

	got, err = r.Echo(nil)
	require.NoError(t, err)
	require.Empty(t, got)

	require.NoError(t, r.Close())
	requireGone(t, pid)
	require.NoError(t, r.Close(), "Close is idempotent")

	_, err = r.Echo([]byte("late"))
	require.ErrorIs(t, err, rpc.ErrShutdown)
}

func TestPythonMapApply(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("python3 is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p, err := peer.StartPython(ctx, 2)
	require.NoError(t, err)
	defer func() { require.NoError(t, p.Close()) }()

	d, err := p.Map(1000)
	require.NoError(t, err)
	require.Positive(t, d)

	d, err = p.Apply(10)
	require.NoError(t, err)
	require.Positive(t, d)

	d, err = p.Spawn(2)
	require.NoError(t, err)
	require.Positive(t, d)
	_, err = p.Spawn(0)
	require.Error(t, err)

	_, err = p.Map(-1)
	require.Error(t, err)

	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	_, err = p.Map(1)
	require.Error(t, err)
}

func TestStartPythonMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := peer.StartPython(context.Background(), 1)
	require.ErrorIs(t, err, peer.ErrNoPython)
}

// requireGroupGone asserts that no process of the process group pgid is
// left running: an interpreter and every worker it started have exited or
// been killed. A killed orphan may linger as a zombie until init reaps it;
// that counts as gone. It reads /proc, so it checks nothing elsewhere.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	require.Positive(t, pgid)
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	if len(stats) == 0 {
		t.Log("no /proc: the process group is not checked")
		return
	}
	for _, file := range stats {
		b, err := os.ReadFile(file)
		if err != nil {
			continue // the process has gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		require.Contains(t, []string{"Z", "X"}, f[0], "%s: a process of group %d is left: %s", file, pgid, b)
	}
}

// findLoky returns the interpreter that runs loky here, or skips the test.
func findLoky(t *testing.T) peer.LokyPython {
	t.Helper()
	lp, err := peer.FindLoky(context.Background())
	if errors.Is(err, peer.ErrNoLoky) {
		t.Skipf("loky is not installed: %v", err)
	}
	require.NoError(t, err)
	return lp
}

func TestLoky(t *testing.T) {
	lp := findLoky(t)
	require.NotEmpty(t, lp.Version)
	require.Contains(t, []string{"loky", "joblib.externals.loky"}, lp.Module)
	require.Contains(t, lp.String(), lp.Version)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := peer.StartLoky(ctx, lp)
	require.NoError(t, err)
	require.Equal(t, lp, l.Python)
	pgid := peer.LokyPID(l)
	defer func() { require.NoError(t, l.Close()) }()

	d, err := l.Spawn(1)
	require.NoError(t, err)
	require.Positive(t, d)

	d, err = l.Submit(10, 1)
	require.NoError(t, err)
	require.Positive(t, d)

	d, err = l.Map(1000, 2, 100) // resizes the executor to two workers
	require.NoError(t, err)
	require.Positive(t, d)

	// The crash breaks the executor: every other task in flight fails, and
	// the recovery includes a new executor's start.
	c, err := l.Crash(2, 3)
	require.NoError(t, err)
	require.Equal(t, 3, c.Failed)
	require.Positive(t, c.Recovery)
	c, err = l.Crash(1, 0)
	require.NoError(t, err)
	require.Zero(t, c.Failed)

	// The executor serves on after the crashes.
	_, err = l.Submit(1, 1)
	require.NoError(t, err)

	for _, bad := range []func() error{
		func() error { _, err := l.Submit(-1, 1); return err },
		func() error { _, err := l.Submit(1, 0); return err },
		func() error { _, err := l.Map(10, 1, 0); return err },
		func() error { _, err := l.Spawn(0); return err },
	} {
		require.Error(t, bad())
	}

	require.NoError(t, l.Close())
	requireGroupGone(t, pgid)
	require.NoError(t, l.Close(), "Close is idempotent")
	_, err = l.Submit(1, 1)
	require.ErrorContains(t, err, "closed")
}

func TestStartLokyCanceled(t *testing.T) {
	lp := findLoky(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := peer.StartLoky(ctx, lp)
	require.ErrorIs(t, err, context.Canceled)
}

func TestStartLokyWithoutInterpreter(t *testing.T) {
	_, err := peer.StartLoky(context.Background(), peer.LokyPython{})
	require.ErrorContains(t, err, "FindLoky")
}

// fakePython writes an executable shell script standing in for a Python
// interpreter (it ignores its arguments) and returns its path.
func fakePython(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "python")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return path
}

func TestFindLokyAbsent(t *testing.T) {
	for _, tc := range []struct {
		name, python, want string
	}{
		{"no such interpreter", filepath.Join(t.TempDir(), "none"), "(not found)"},
		{"no loky", fakePython(t, "echo 'Traceback' >&2; echo 'ModuleNotFoundError: no loky here' >&2; exit 1"), "ModuleNotFoundError: no loky here"},
		{"bad probe", fakePython(t, "echo 'nonsense'"), "bad probe output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(peer.PythonEnv, tc.python)
			_, err := peer.FindLoky(context.Background())
			require.ErrorIs(t, err, peer.ErrNoLoky)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "apt install python3-joblib")
			require.ErrorContains(t, err, "pip install loky")
		})
	}
}

// TestLokyScriptFailures drives the line protocol against fake
// interpreters that misbehave: each command fails with an error that says
// what went wrong, and Close reaps the interpreter.
func TestLokyScriptFailures(t *testing.T) {
	for _, tc := range []struct {
		name, body, start, command, close string
	}{
		{name: "not ready", body: "echo hello", start: `unexpected line "hello"`},
		{name: "dies before ready", body: "echo 'no interpreter here' >&2; exit 2", start: "no interpreter here"},
		{name: "dies mid-command", body: "echo ready; read l; echo boom >&2; exit 3", command: "boom", close: "exit status 3"},
		{name: "bad number", body: "echo ready; read l; echo 'ok x'", command: `bad reply "ok x"`},
		{name: "too few numbers", body: "echo ready; read l; echo 'ok 1'", command: "want 2 numbers"},
		{name: "unknown reply", body: "echo ready; read l; echo 'maybe'", command: `bad reply "maybe"`},
		{name: "error reply", body: "echo ready; read l; echo 'err it broke'", command: "peer: loky crash: it broke"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			l, err := peer.StartLoky(ctx, peer.LokyPython{Path: fakePython(t, tc.body)})
			if tc.start != "" {
				require.ErrorContains(t, err, tc.start)
				return
			}
			require.NoError(t, err)
			pgid := peer.LokyPID(l)
			_, err = l.Crash(1, 1)
			require.ErrorContains(t, err, tc.command)
			err = l.Close()
			if tc.close != "" {
				require.ErrorContains(t, err, tc.close)
			} else {
				require.NoError(t, err)
			}
			requireGroupGone(t, pgid)
		})
	}
}
