// Command notebook_loop is a small notebook kernel. It reads cells, one
// command a line, from the file named by its argument (or from stdin) and
// runs each on the kernel's loop, a [bridge.Loop], in order, the way a
// Jupyter kernel runs cells on its event loop; it prints a transcript.
//
// It replays the failure Kedro met in Jupyter, and its fix. A cell already
// runs on a loop. The naive cell, wordcount, starts its pipeline with
// bridge.Run, Go's asyncio.run, and fails with bridge.ErrLoopRunning as
// asyncio.run() fails inside Jupyter. wordcount-sync runs the very same
// pipeline with bridge.RunSync, which runs it off the loop while the loop
// waits: it counts the words of a folder's files across a pool of worker
// processes.
//
//	go run ./examples/notebook_loop examples/notebook_loop/testdata/notebook.txt
//
// The commands:
//
//	echo TEXT           prints TEXT
//	wordcount DIR       the naive cell: bridge.Run inside a cell, which fails
//	wordcount-sync DIR  the same pipeline through bridge.RunSync: the words
//	                    of DIR's files (not its subfolders), their total
//	                    and the three most frequent
//
// Blank lines and lines starting with # are not cells. A failing cell is
// reported and the kernel goes on with the next one. Ctrl-C stops the
// kernel: the cell running is cancelled and every worker is reaped.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

func main() {
	actor.Main() // first: the pool's workers are this binary, re-executed; in one, this serves and never returns

	var cells io.Reader = os.Stdin
	switch len(os.Args) {
	case 1:
	case 2:
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "notebook_loop:", err)
			os.Exit(1)
		}
		cells = f // closed when the process exits
	default:
		fmt.Fprintln(os.Stderr, "usage: notebook_loop [NOTEBOOK]  (without NOTEBOOK, cells are read from stdin)")
		os.Exit(2)
	}

	// Ctrl-C cancels ctx: the running cell is cancelled, and run returns
	// once every worker has been reaped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, cells, os.Stdout)
	stop()
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "notebook_loop: interrupted; every worker was stopped and reaped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "notebook_loop:", err)
		os.Exit(1)
	}
}

// countWords runs in a pool worker, a child process: it counts the words of
// one file. A word is a run of letters or digits, lower-cased. It is a
// package-level variable so that the kernel and its workers (the same
// binary) register the same name.
var countWords = actor.Func("notebook_loop.countWords", func(ctx context.Context, path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, w := range strings.FieldsFunc(string(b), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		counts[strings.ToLower(w)]++
	}
	return counts, nil
})

// run is the kernel: it runs the cells read from cells, one a line, on the
// kernel's loop, in order, and writes the transcript to w. A failing cell is
// reported in the transcript and the kernel goes on with the next one, as a
// notebook does. run returns an error only when ctx is cancelled or reading
// the cells fails, and in every case only once each worker process has been
// reaped.
func run(ctx context.Context, cells io.Reader, w io.Writer) (err error) {
	// The pool lives as long as the kernel. Its workers are spawned on
	// demand, so a notebook that counts no words starts no process.
	p, err := pool.New(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// Reap every worker, after a cancel too (ctx's cancel has already
		// told them to stop).
		if serr := p.Shutdown(context.WithoutCancel(ctx)); err == nil {
			err = serr
		}
	}()

	k := &kernel{w: w, pool: p}
	loop := bridge.NewLoop(bridge.WithName("kernel"))
	return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		n.Go(loop.Run)    // the kernel's loop, on a goroutine of its own
		defer loop.Stop() // after the last cell: the loop drains, and Run waits for it

		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // stops the reader, if it is still at work
		lines := readLines(ctx, cells)
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			var in input
			var ok bool
			select {
			case in, ok = <-lines:
			case <-ctx.Done():
				return ctx.Err()
			}
			switch {
			case !ok:
				return nil // the end of the notebook
			case in.err != nil:
				return fmt.Errorf("reading the cells: %w", in.err)
			}
			src := strings.TrimSpace(in.line)
			if src == "" || strings.HasPrefix(src, "#") {
				continue
			}
			// As a notebook's frontend does, send a cell to the kernel and
			// wait until it has run before sending the next. bridge.Call
			// gives up when ctx ends; the cell, cancelled, then ends on the
			// loop, and the nursery waits for the loop.
			_, err := bridge.Call(ctx, loop, func(ctx context.Context) (struct{}, error) {
				k.execute(ctx, src)
				return struct{}{}, nil
			})
			if err != nil {
				return err
			}
		}
	})
}

// A kernel is the state the cells share. It belongs to the kernel's loop:
// only cells touch it, and they run on the loop one at a time, so it needs
// no lock.
type kernel struct {
	w     io.Writer
	pool  *pool.Pool
	count int // the cells run so far
}

// execute runs one cell, on the kernel's loop, and writes its input and its
// output, or its error, to the transcript.
func (k *kernel) execute(ctx context.Context, src string) {
	k.count++
	fmt.Fprintf(k.w, "In [%d]: %s\n", k.count, src)
	out, err := k.eval(ctx, src)
	switch {
	case err != nil:
		label := fmt.Sprintf("Err[%d]: ", k.count)
		fmt.Fprintln(k.w, label+indent(err.Error(), len(label)))
		if errors.Is(err, bridge.ErrLoopRunning) {
			fmt.Fprintln(k.w, strings.Repeat(" ", len(label))+
				"(this is asyncio.run() inside Jupyter: the cell already runs on the kernel's loop, and loops do not nest)")
		}
	case out != "":
		label := fmt.Sprintf("Out[%d]: ", k.count)
		fmt.Fprintln(k.w, label+indent(out, len(label)))
	}
	fmt.Fprintln(k.w)
}

// eval runs the command src, on the kernel's loop, and returns its output.
func (k *kernel) eval(ctx context.Context, src string) (string, error) {
	cmd, arg, _ := strings.Cut(src, " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "echo":
		return arg, nil

	case "wordcount":
		if arg == "" {
			return "", errors.New("usage: wordcount DIR")
		}
		// The naive cell. It starts its pipeline on a loop of its own, as
		// Kedro's SequentialRunner called asyncio.run; but this cell already
		// runs on the kernel's loop, so bridge.Run refuses with
		// bridge.ErrLoopRunning and the pipeline never starts.
		var s summary
		err := bridge.Run(ctx, func(ctx context.Context) error {
			var err error
			s, err = wordcount(ctx, k.pool, arg, k.w)
			return err
		})
		if err != nil {
			return "", err
		}
		return s.String(), nil

	case "wordcount-sync":
		if arg == "" {
			return "", errors.New("usage: wordcount-sync DIR")
		}
		// The fix: bridge.RunSync runs the same pipeline on a goroutine of
		// its own, with a fresh loop, and the kernel's loop waits for it.
		// The pipeline writes its progress to the transcript from there:
		// the loop, the transcript's only other writer, is waiting.
		s, err := bridge.RunSync(ctx, func(ctx context.Context) (summary, error) {
			return wordcount(ctx, k.pool, arg, k.w)
		})
		if err != nil {
			return "", err
		}
		return s.String(), nil
	}
	return "", fmt.Errorf("unknown command %q (the commands: echo TEXT, wordcount DIR, wordcount-sync DIR)", cmd)
}

// wordcount is the pipeline: it counts the words of every regular file in
// dir (not in its subfolders), one task per file on the pool's workers, and
// writes a progress line to w after each batch of results. It blocks, so it
// must not run on a loop.
func wordcount(ctx context.Context, p *pool.Pool, dir string, w io.Writer) (summary, error) {
	files, err := regularFiles(dir)
	if err != nil {
		return summary{}, err
	}
	progress := pool.WithProgress(func(done, _ int) {
		// Map's own total counts the files read so far; ours is final.
		fmt.Fprintf(w, "progress: %d/%d files\n", done, len(files))
	})
	s := summary{files: len(files)}
	total := map[string]int{}
	for counts, err := range pool.Map(ctx, p, countWords, slices.Values(files), progress) {
		if err != nil {
			return summary{}, err
		}
		for word, n := range counts {
			total[word] += n
			s.words += n
		}
	}
	for word, n := range total {
		s.top = append(s.top, wordCount{word, n})
	}
	slices.SortFunc(s.top, func(a, b wordCount) int {
		if a.n != b.n {
			return b.n - a.n
		}
		return strings.Compare(a.word, b.word)
	})
	s.top = s.top[:min(3, len(s.top))]
	return s, nil
}

// regularFiles lists the regular files in dir, by name, as absolute paths.
func regularFiles(dir string) ([]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

// summary is a word count's result.
type summary struct {
	files, words int
	top          []wordCount // the most frequent words, most frequent first
}

type wordCount struct {
	word string
	n    int
}

func (s summary) String() string {
	top := make([]string, len(s.top))
	for i, wc := range s.top {
		top[i] = fmt.Sprintf("%s (%d)", wc.word, wc.n)
	}
	return fmt.Sprintf("%d words in %d files\ntop %d: %s", s.words, s.files, len(top), strings.Join(top, ", "))
}

// indent indents every line of s but the first by n spaces, to sit under
// a label n wide.
func indent(s string, n int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

// input is a line read from the notebook, or the error that ended reading.
type input struct {
	line string
	err  error
}

// readLines sends the lines of r on the returned channel and closes it at
// the end of r; a read error comes as the last item. It reads on a
// goroutine of its own so that the kernel sees ctx's cancel (Ctrl-C) at
// once even while a terminal waits for a line. A Read cannot be
// interrupted: once ctx is cancelled the goroutine ends at the next line,
// at the end of r, or with the process.
func readLines(ctx context.Context, r io.Reader) <-chan input {
	c := make(chan input)
	go func() {
		defer close(c)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case c <- input{line: sc.Text()}:
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			select {
			case c <- input{err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return c
}
