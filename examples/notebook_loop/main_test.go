package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/internal/leakcheck"
	"github.com/grove-rt/grove/internal/proctest"
)

func TestMain(m *testing.M) {
	actor.Main() // the pool's workers are this test binary, re-executed
	leakcheck.Main(m)
}

// quickExit makes the workers, built with -race, exit at once: a race build
// sleeps a second as it exits (atexit_sleep_ms), and workers inherit the
// environment.
func quickExit(t *testing.T) {
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// The words of testdata/notes: 28 in 4 files; the 7, fox 4, dog 3, then
// a and quick 2 each.
const counted = "28 words in 4 files\n" +
	"        top 3: the (7), fox (4), dog (3)"

func TestNotebook(t *testing.T) {
	quickExit(t)
	proctest.NoChildrenLeft(t)
	notes, err := filepath.Abs(filepath.Join("testdata", "notes"))
	require.NoError(t, err)
	missing := filepath.Join(t.TempDir(), "missing")
	notebook := strings.Join([]string{
		"# a comment, not a cell",
		"echo hello, kernel",
		"",
		"wordcount " + notes,
		"wordcount-sync " + notes,
		"wordcount-sync " + missing,
		"plot " + notes,
		"wordcount-sync " + notes,
		"echo  still here ",
	}, "\n")

	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), strings.NewReader(notebook), &buf))
	require.Empty(t, proctest.Children(os.Getpid()), "run returns only once every worker has been reaped")
	out := buf.String()
	t.Log("\n" + out)

	cells := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n\n")
	require.Len(t, cells, 7, "one paragraph per cell, comments and blank lines skipped")

	require.Equal(t, "In [1]: echo hello, kernel\nOut[1]: hello, kernel", cells[0])

	// The naive cell: bridge.Run on the kernel's loop refuses, and the
	// pipeline never starts.
	require.Equal(t, "In [2]: wordcount "+notes+"\n"+
		"Err[2]: "+bridge.ErrLoopRunning.Error()+" (kernel): use bridge.RunSync\n"+
		"        (this is asyncio.run() inside Jupyter: the cell already runs on the kernel's loop, and loops do not nest)",
		cells[1])

	// The same pipeline through RunSync works, on the pool's workers.
	requireCounted(t, 3, notes, cells[2])

	// Failing cells are reported, and the kernel goes on.
	require.Regexp(t, `^In \[4\]: wordcount-sync `+regexp.QuoteMeta(missing)+`\nErr\[4\]: open `+
		regexp.QuoteMeta(missing)+`: no such file or directory$`, cells[3])
	require.Equal(t, "In [5]: plot "+notes+"\n"+
		`Err[5]: unknown command "plot" (the commands: echo TEXT, wordcount DIR, wordcount-sync DIR)`, cells[4])
	requireCounted(t, 6, notes, cells[5])
	require.Equal(t, "In [7]: echo  still here\nOut[7]: still here", cells[6])
}

// requireCounted checks that cell is cell i, a wordcount-sync of
// testdata/notes that worked: its progress rises to 4 of 4 files, then its
// output.
func requireCounted(t *testing.T, i int, notes, cell string) {
	t.Helper()
	lines := strings.Split(cell, "\n")
	require.Equal(t, "In ["+strconv.Itoa(i)+"]: wordcount-sync "+notes, lines[0])
	progress := lines[1 : len(lines)-2]
	require.NotEmpty(t, progress, cell)
	last := 0
	for _, l := range progress {
		m := regexp.MustCompile(`^progress: (\d)/4 files$`).FindStringSubmatch(l)
		require.NotNil(t, m, "a progress line: %q", l)
		done, _ := strconv.Atoi(m[1])
		require.Greater(t, done, last, "progress rises: %q", cell)
		last = done
	}
	require.Equal(t, 4, last, "progress reaches the total")
	require.Equal(t, "Out["+strconv.Itoa(i)+"]: "+counted, strings.Join(lines[len(lines)-2:], "\n"))
}

// TestShippedNotebook runs testdata/notebook.txt from the repository root,
// as the README's command does.
func TestShippedNotebook(t *testing.T) {
	quickExit(t)
	proctest.NoChildrenLeft(t)
	t.Chdir(filepath.Join("..", ".."))
	f, err := os.Open(filepath.Join("examples", "notebook_loop", "testdata", "notebook.txt"))
	require.NoError(t, err)
	defer f.Close()

	var buf bytes.Buffer
	require.NoError(t, run(context.Background(), f, &buf))
	out := buf.String()
	t.Log("\n" + out)
	require.Contains(t, out, "progress: 4/4 files\nOut[3]:")
	var kept []string
	for l := range strings.Lines(out) {
		if !strings.HasPrefix(l, "progress: ") { // how many depends on the batches
			kept = append(kept, l)
		}
	}
	require.Equal(t, `In [1]: echo hello from the kernel's loop
Out[1]: hello from the kernel's loop

In [2]: wordcount examples/notebook_loop/testdata/notes
Err[2]: bridge: cannot run a loop from code running on a loop (kernel): use bridge.RunSync
        (this is asyncio.run() inside Jupyter: the cell already runs on the kernel's loop, and loops do not nest)

In [3]: wordcount-sync examples/notebook_loop/testdata/notes
Out[3]: `+counted+"\n\n", strings.Join(kept, ""))
}

func TestNotebookCancelled(t *testing.T) {
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before the first cell
	var buf bytes.Buffer
	err := run(ctx, strings.NewReader("echo never\nwordcount-sync testdata/notes\n"), &buf)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, buf.String(), "no cell ran")
}

// TestNotebookInterrupted cancels run's ctx, as Ctrl-C does, while a
// wordcount-sync cell is under way: the cell is cancelled and reported, the
// next cell never runs, and run returns context.Canceled once every worker
// has been reaped.
func TestNotebookInterrupted(t *testing.T) {
	quickExit(t)
	proctest.NoChildrenLeft(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOn{cancel: cancel, text: "progress: 1/4 files"}
	err := run(ctx, strings.NewReader("wordcount-sync testdata/notes\necho never\n"), w)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, proctest.Children(os.Getpid()), "every worker was reaped")
	out := w.buf.String()
	t.Log("\n" + out)
	// Results already in may still be reported before the cancel is seen.
	require.Regexp(t, `^In \[1\]: wordcount-sync testdata/notes\nprogress: 1/4 files\n(progress: [2-4]/4 files\n)*`+
		`Err\[1\]: .*context canceled\n\n$`, out)
}

// cancelOn is a writer that calls cancel once a write contains text.
type cancelOn struct {
	buf    bytes.Buffer
	text   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(c.text)) {
		c.cancel()
	}
	return c.buf.Write(p)
}
