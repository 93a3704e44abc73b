//go:build linux

package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/internal/treetest"
)

func TestMain(m *testing.M) {
	actor.Main() // the tree's actors are this test binary
	leakcheck.Main(m)
}

// buildGrove builds the command into dir.
func buildGrove(t *testing.T, dir string) string {
	t.Helper()
	exe := filepath.Join(dir, "bin", "grove")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return exe
}

// grove runs the built command and returns its stdout, stderr and exit code.
func grove(t *testing.T, exe string, cred *syscall.Credential, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	code := 0
	if xe, ok := err.(*exec.ExitError); ok {
		code = xe.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

func TestGrove(t *testing.T) {
	proctest.NoChildrenLeft(t)
	tmp := t.TempDir()
	exe := buildGrove(t, tmp)
	t.Setenv("XDG_RUNTIME_DIR", tmp)
	pid := strconv.Itoa(os.Getpid())

	out, errOut, code := grove(t, exe, nil, "-h")
	require.Equal(t, 0, code)
	require.Contains(t, errOut+out, "usage: grove")
	_, errOut, code = grove(t, exe, nil, "ps")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "usage: grove")
	_, errOut, code = grove(t, exe, nil, "ps", pid)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "actor.ServeDebug")
	for _, d := range []string{"0", "-1s"} { // a usage error, not a dial that times out at once
		_, errOut, code = grove(t, exe, nil, "-timeout", d, "ps", pid)
		require.Equal(t, 2, code, errOut)
		require.Contains(t, errOut, "give a positive duration")
	}

	treetest.Run(t, func(ctx context.Context, mid *actor.Ref) {
		d, err := actor.ServeDebug(ctx)
		require.NoError(t, err)
		defer d.Close()

		out, errOut, code := grove(t, exe, nil, "ps", pid)
		require.Equal(t, 0, code, errOut)
		t.Logf("grove ps:\n%s", out)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		require.Regexp(t, `^NAME\s+ID\s+PID\s+BACKEND\s+STATE\s+CALLS\s+UPTIME\s+RSS$`, lines[0])
		require.Regexp(t, `^root\s+[0-9a-f]{16}\s+`+pid+`\s+process\s+serving\s`, lines[1])
		row := func(indent, name, fn string) *regexp.Regexp {
			return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(indent+`\_ `+name) + `\s+[0-9a-f]{16}\s+\d+\s+\w+\s+serving\s+` + regexp.QuoteMeta(fn+":1") + `\s`)
		}
		require.Regexp(t, row("", "mid", treetest.MidFunc), out, "mid, indented under root")
		require.Regexp(t, row("  ", "leaf", treetest.LeafFunc), out, "leaf, indented under mid")
		require.Contains(t, out, mid.ID())

		out, errOut, code = grove(t, exe, nil, "stacks", pid)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "=== actor root[")
		require.Contains(t, out, "=== actor mid["+mid.ID()+"]")
		require.Regexp(t, `=== actor leaf\[[0-9a-f]{16}\]@\d+: depth 2,`, out)
		if proctest.ProcessBackend() {
			require.Contains(t, out, treetest.LeafFrame)
		}

		if os.Getuid() == 0 { // another user is refused
			nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
			for _, p := range []string{filepath.Dir(exe), tmp, filepath.Dir(tmp)} {
				require.NoError(t, os.Chmod(p, 0o755)) // so that nobody may run the binary
			}
			_, errOut, code = grove(t, exe, nobody, "ps", pid)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, "permission denied", "the socket's private directory keeps nobody out")
			// With the directory's guard gone (opened after the listen, which
			// checked it), SO_PEERCRED still refuses: both ends check the uid.
			require.NoError(t, os.Chmod(filepath.Dir(d.Path()), 0o755))
			require.NoError(t, os.Chmod(d.Path(), 0o777))
			_, errOut, code = grove(t, exe, nobody, "ps", pid)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, "permission denied")
			require.Contains(t, errOut, "runs as uid 0, not as our uid 65534")
		}
	})
}
