package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
)

func TestMain(m *testing.M) {
	actor.Main() // the demo's actors are this test binary, re-executed
	leakcheck.Main(m)
}

// The demo's output once pids, actor ids, how far the cancelled workers got
// and the remote stack are masked, and the lines whose order depends on
// scheduling (progress of parallel workers, output forwarded from
// actors) are sorted within their run.
const want = `This program is pid PID. Each worker below is a child process of it (the same
binary, re-executed), owned by a nursery that cancels and reaps it.
1. spawn: three actors start as child processes; a call runs in the child
   w0 answers from pid PID, whose parent is pid PID (this program)
   w1 answers from pid PID, whose parent is pid PID (this program)
   w2 answers from pid PID, whose parent is pid PID (this program)
   n.Cancel(nil) stopped them; Run returned once all three had exited
2. stream: three actors count primes in parallel and stream their progress back
   w0  25% of [0, 1000000): 22044 primes so far
   w0  50% of [0, 1000000): 41538 primes so far
   w0  75% of [0, 1000000): 60238 primes so far
   w0 100% of [0, 1000000): 78498 primes so far
   w1  25% of [1000000, 2000000): 17971 primes so far
   w1  50% of [1000000, 2000000): 35657 primes so far
   w1  75% of [1000000, 2000000): 53110 primes so far
   w1 100% of [1000000, 2000000): 70435 primes so far
   w2  25% of [2000000, 3000000): 17148 primes so far
   w2  50% of [2000000, 3000000): 34139 primes so far
   w2  75% of [2000000, 3000000): 51060 primes so far
   w2 100% of [2000000, 3000000): 67883 primes so far
   Run returned once every stream had ended and every actor had exited:
   78498 + 70435 + 67883 = 216816 primes below 3000000, counted by three processes at once
3. failure: one actor panics; the nursery cancels its busy siblings and reaps all three
   w0 and w1 are busy counting primes from 10^9; w2 gets the tiny range [10, 12)
   and panics. The nursery cancels w0 and w1, which stop in their own processes:
   [w0] cancelled after checking N numbers: stopping
   [w1] cancelled after checking N numbers: stopping
   Run returned only w2's panic, a *actor.RemoteError whose Error() reads like a traceback:
   | actor w2[ID]@PID: panic: runtime error: integer divide by zero
   |
   | remote stack of w2[ID]@PID:
   | STACK
   and by then every process had been reaped:
   w0 (pid PID): kill(pid, 0) = no such process
   w1 (pid PID): kill(pid, 0) = no such process
   w2 (pid PID): kill(pid, 0) = no such process
4. Ctrl-C: cancelling the root's ctx stops the whole tree, grandchildren included
   boss (pid PID) spawned g0 (pid PID) and g1 (pid PID), both busy counting primes
   cancel(), which is what Ctrl-C does to main's ctx through signal.NotifyContext:
   [boss] [g0] cancelled after checking N numbers: stopping
   [boss] [g1] cancelled after checking N numbers: stopping
   Run returned: context canceled
   and the whole tree is gone, the grandchildren reaped by boss, boss by us:
   boss (pid PID): kill(pid, 0) = no such process
   g0 (pid PID): kill(pid, 0) = no such process
   g1 (pid PID): kill(pid, 0) = no such process
`

func TestDemo(t *testing.T) {
	proctest.NeedsProcesses(t, "the story told with child processes, their pids and their reaping")
	// Built with -race, a process sleeps a second as it exits
	// (atexit_sleep_ms); the actors inherit the environment, so that they
	// exit at once.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), &buf))
	require.Empty(t, proctest.Children(os.Getpid()), "run returns only once every actor has been reaped")
	out := buf.String()
	t.Log("\n" + out)

	require.Equal(t, want, normalize(t, out))

	// The pids: this process is the parent of the actors, each actor a
	// process of its own.
	me := strconv.Itoa(os.Getpid())
	require.Equal(t, [][]string{{me}}, submatches(`This program is pid (\d+)\.`, out))
	require.Equal(t, [][]string{{me}, {me}, {me}}, submatches(`whose parent is pid (\d+)`, out))
	var pids []string
	for _, m := range submatches(`pid (\d+)[),]`, out) {
		pids = append(pids, m[0])
	}
	require.Len(t, pids, 12, "3 answers, 3+3 reaped actors, 3 in the tree")
	require.NotContains(t, pids, me)
	for _, scene := range [][]string{pids[0:3], pids[3:6], pids[6:9]} {
		require.Len(t, slices.Compact(slices.Sorted(slices.Values(scene))), 3, "three processes: %v", scene)
	}
	require.Equal(t, pids[6:9], pids[9:12], "the tree's pids, announced then reaped")
	tree := submatches(`(boss|g0|g1) \(pid (\d+)\)`, out)
	require.Len(t, tree, 6)
	require.Equal(t, tree[:3], tree[3:], "each name with its own pid")

	// The panic came from w2's process, whose stack names the function.
	require.Equal(t, [][]string{{pids[5], pids[5]}},
		submatches(`(?m)^   \| actor w2\[[0-9a-f]{16}\]@(\d+): panic: .*\n   \|\n   \| remote stack of w2\[[0-9a-f]{16}\]@(\d+):$`, out))
	require.Regexp(t, `(?m)^   \| \S*\bcountPrimesIn\(`, out, "the stack names the function that panicked")
	require.Contains(t, out, "examples/trio_style/main.go:")

	// Each worker's items arrive in the order it sent them.
	for _, w := range []string{"w0", "w1", "w2"} {
		var percents []string
		for _, m := range submatches(`(?m)^   `+w+` +(\d+)% of`, out) {
			percents = append(percents, m[0])
		}
		require.Equal(t, []string{"25", "50", "75", "100"}, percents, w)
	}
}

func TestDemoCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before the first scene
	var buf bytes.Buffer
	err := run(ctx, &buf)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, proctest.Children(os.Getpid()))
}

// TestDemoInterrupted cancels run's ctx, as Ctrl-C does, while two actors
// are busy on endless work: run returns context.Canceled once every actor
// is reaped, and each busy actor says it was cancelled.
func TestDemoInterrupted(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOn{cancel: cancel, line: "w0 and w1 are busy"}
	err := run(ctx, w)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, proctest.Children(os.Getpid()), "every actor was reaped")
	out := w.buf.String()
	require.NotContains(t, out, "4. Ctrl-C:")
	require.Equal(t, [][]string{{"w0"}, {"w1"}},
		sorted(submatches(`(?m)^   \[(w\d)\] cancelled after checking \d+ numbers: stopping$`, out)),
		"each busy actor noticed the cancel itself:\n%s", out)
}

// TestDemoGoroutineBackend plays the demo with goroutine actors, as under
// WebAssembly: the same story, told without child processes, pids of
// their own or reaping.
func TestDemoGoroutineBackend(t *testing.T) {
	t.Setenv("GROVE_BACKEND", "goroutine")
	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), &buf))
	out := buf.String()
	t.Log("\n" + out)
	me := strconv.Itoa(os.Getpid())

	// The intro and the spawn: the actors answer from this very program.
	require.Contains(t, out, "This program is pid "+me+". Each worker below is a goroutine actor in it")
	require.Contains(t, out, "\n1. spawn: three actors start as goroutine actors; a call runs in the actor\n")
	require.Equal(t, [][]string{{"w0", me}, {"w1", me}, {"w2", me}},
		submatches(`(?m)^   (w\d) answers from pid (\d+), this program's own: it has no process of its own$`, out))
	require.Contains(t, out, "   n.Cancel(nil) stopped them; Run returned once all three had ended\n")

	// The streams: each worker's items in order, and the totals.
	for _, w := range []string{"w0", "w1", "w2"} {
		var percents []string
		for _, m := range submatches(`(?m)^   `+w+` +(\d+)% of`, out) {
			percents = append(percents, m[0])
		}
		require.Equal(t, []string{"25", "50", "75", "100"}, percents, w)
	}
	require.Contains(t, out, "   78498 + 70435 + 67883 = 216816 primes below 3000000, counted by three goroutine actors at once\n")

	// The panic: a RemoteError from w2, with the stack of its goroutine.
	require.Contains(t, out, "   Run returned only w2's panic, a *actor.RemoteError whose Error() reads like a traceback:\n")
	require.Regexp(t, `(?m)^   \| actor w2\[[0-9a-f]{16}\]@`+me+`: panic: runtime error: integer divide by zero$`, out)
	require.Regexp(t, `(?m)^   \| \S*\bcountPrimesIn\(`, out, "the stack names the function that panicked")

	// The cancellations: the busy actors stop themselves, and every actor
	// has ended when Run returns.
	require.Equal(t, [][]string{{"g0"}, {"g1"}, {"w0"}, {"w1"}},
		sorted(submatches(`(?m)^   \[(\w\d)\] cancelled after checking \d+ numbers: stopping$`, out)), out)
	require.Equal(t, [][]string{{"w0"}, {"w1"}, {"w2"}, {"boss"}},
		submatches(`(?m)^   (\w+): a call to it fails now, it has ended$`, out))
	require.Contains(t, out, "   boss spawned g0 and g1, goroutine actors too, both busy counting primes\n")
	require.Contains(t, out, "   Run returned: context canceled\n")

	// Nothing claims processes that do not exist.
	require.NotContains(t, out, "child process")
	require.NotContains(t, out, "kill(pid, 0)")
	require.NotContains(t, out, "reaped")
}

func sorted(ss [][]string) [][]string {
	slices.SortFunc(ss, func(a, b []string) int { return slices.Compare(a, b) })
	return ss
}

// cancelOn is a writer that calls cancel when a write contains line.
type cancelOn struct {
	buf    bytes.Buffer
	line   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.line)) {
		c.cancel()
	}
	return c.buf.Write(p)
}

var (
	pidRE       = regexp.MustCompile(`pid \d+`)
	actorIDRE   = regexp.MustCompile(`\[[0-9a-f]{16}\]@\d+`)
	checkedRE   = regexp.MustCompile(`checking \d+ numbers`)
	unorderedRE = regexp.MustCompile(`^   (w\d +\d+% of |\[)`)
)

// normalize masks what varies from run to run (see want) and sorts each
// run of lines whose order depends on scheduling.
func normalize(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var norm []string
	stack := false
	for _, l := range lines {
		if strings.HasPrefix(l, "   | ") && stack {
			continue // the rest of the remote stack
		}
		if strings.HasPrefix(l, "   | goroutine ") {
			stack = true
			norm = append(norm, "   | STACK")
			continue
		}
		l = actorIDRE.ReplaceAllString(l, "[ID]@PID")
		l = pidRE.ReplaceAllString(l, "pid PID")
		l = checkedRE.ReplaceAllString(l, "checking N numbers")
		norm = append(norm, l)
	}
	require.True(t, stack, "the remote stack was printed")
	for i := 0; i < len(norm); {
		j := i
		for j < len(norm) && unorderedRE.MatchString(norm[j]) {
			j++
		}
		slices.Sort(norm[i:j])
		i = max(j, i+1)
	}
	return strings.Join(norm, "\n") + "\n"
}

// submatches returns the submatches of every match of re in s.
func submatches(re, s string) [][]string {
	var out [][]string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1:])
	}
	return out
}
