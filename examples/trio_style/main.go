// Command trio_style is grove's main demo: Trio's structured concurrency,
// stretched across processes as Tractor's actors. Each worker is a child
// process of this program (the binary re-executes itself) and a task of a
// nursery. The scenes show a call into an actor, workers streaming their
// progress back while they count primes in parallel, one worker panicking
// (its busy siblings are cancelled, the panic comes back with its remote
// stack, every process is reaped), and a cancel at the root stopping a
// whole tree of processes. Ctrl-C does the same to the real run.
//
// Where processes cannot be spawned (GOOS=js, wasip1), or with
// GROVE_BACKEND=goroutine, the actors are goroutines of this program
// instead, and the demo tells the same story in those terms: no pids of
// their own, no reaping, an actor's output is this program's own.
//
//	go run ./examples/trio_style
//	GROVE_BACKEND=goroutine go run ./examples/trio_style
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

func main() {
	actor.Main() // first: run as an actor, this binary serves its parent here and never returns

	// Ctrl-C cancels ctx; the nurseries below cancel and reap every actor
	// before run returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx too
	stop()
	switch {
	case err != nil && interrupted:
		fmt.Fprintln(os.Stderr, "trio_style: interrupted; every actor was cancelled and reaped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "trio_style:", err)
		os.Exit(1)
	}
}

// The functions the actors run. They are package-level variables so that
// the parent and every child (the same binary) register the same names.
var (
	// whoami answers with the pid of the process it runs in and its parent's.
	whoami = actor.Func("trio_style.whoami", func(ctx context.Context, _ struct{}) (Who, error) {
		return Who{PID: os.Getpid(), PPID: os.Getppid()}, nil
	})

	// countPrimes counts primes in a range and streams its progress back.
	countPrimes = actor.StreamFunc("trio_style.countPrimes", countPrimesIn)

	// team spawns actors of its own (grandchildren of the root), sets each
	// counting primes for good, and reports each one once it is busy. Their
	// output goes to team's stderr, which the root forwards in turn.
	team = actor.StreamFunc("trio_style.team", func(ctx context.Context, size int, out chan<- Member) error {
		return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			for i := range size {
				ref, err := actor.Spawn(ctx, n, fmt.Sprintf("g%d", i))
				if err != nil {
					return err
				}
				n.Go(func(ctx context.Context) error {
					return keepBusy(ctx, ref, func() {
						select {
						case out <- Member{Name: ref.Name(), PID: ref.PID()}:
						case <-ctx.Done():
						}
					})
				})
			}
			return nil
		})
	})
)

// keepBusy has ref count primes for good and calls busy once its first
// progress report arrives; it returns when the stream ends (cancelled).
func keepBusy(ctx context.Context, ref *actor.Ref, busy func()) error {
	job := endless
	job.Name = ref.Name()
	s, err := countPrimes.Open(ctx, ref, job)
	if err != nil {
		return err
	}
	first := true
	for range s.C {
		if first {
			first = false
			busy()
		}
	}
	return s.Err()
}

// Who is whoami's answer.
type Who struct{ PID, PPID int }

// Job asks countPrimes for the primes in [Lo, Hi), with Reports progress
// reports along the way. Name is the actor's, for what it prints when it
// runs on a goroutine (a process's output is prefixed by its parent).
type Job struct {
	Lo, Hi, Reports int64
	Name            string
}

// Progress is one of countPrimes' reports: how many numbers it has checked
// and how many primes it has found so far.
type Progress struct{ Checked, Primes int64 }

// Member is one of team's actors, reported once it is busy.
type Member struct {
	Name string
	PID  int
}

// endless is a job that outlasts the demo, reporting every 20,000 numbers
// (a few milliseconds), so its actor notices a cancel quickly.
var endless = Job{Lo: 1_000_000_000, Hi: 2_000_000_000, Reports: 50_000}

// countPrimesIn runs in an actor: it counts the primes in job's range and
// sends job.Reports progress items, the last one the total. It checks ctx
// between items and says so on its stdout when it is cancelled (the parent
// forwards a process's output, each line prefixed with the actor's name; a
// goroutine actor's stdout is this program's, see say).
func countPrimesIn(ctx context.Context, job Job, out chan<- Progress) error {
	every := (job.Hi - job.Lo) / job.Reports // a bug, kept for scene 3: 0 for a range shorter than Reports
	var p Progress
	for n := job.Lo; n < job.Hi; n++ {
		if isPrime(n) {
			p.Primes++
		}
		p.Checked++
		if p.Checked%1024 == 0 {
			yield()
		}
		if p.Checked%every != 0 && n != job.Hi-1 {
			continue
		}
		if ctx.Err() == nil {
			select {
			case out <- p:
				continue
			case <-ctx.Done():
			}
		}
		say(job.Name, "cancelled after checking %d numbers: stopping\n", p.Checked)
		return ctx.Err()
	}
	return nil
}

// yield lets the rest of the program run while an actor computes. Under
// WebAssembly there is one thread and no preemption, and actors are
// goroutines there, so a busy one must yield; under GOOS=js that is not
// even enough: the JavaScript event loop, which completes every write to
// stdout, runs only once no goroutine at all is runnable, and two actors
// counting primes for good would starve it (the demo would hang at its
// next line of output). There every busy actor sleeps out the second half
// of each 10ms slot of the clock, all in the same half, so the event loop
// gets it.
func yield() {
	if runtime.GOOS != "js" {
		runtime.Gosched()
		return
	}
	const slot = 10 * time.Millisecond
	now := time.Now()
	start := now.Truncate(slot)
	if now.Sub(start) < slot/2 {
		runtime.Gosched()
		return
	}
	time.Sleep(start.Add(slot).Sub(now))
}

// inProcess is where goroutine actors print, set by run: they run in its
// process, where there is no parent to forward and prefix their output.
// In a child process (an actor of the process backend) it is nil.
var inProcess atomic.Pointer[io.Writer]

// say prints a line of the actor named name on its stdout: as is in a
// child process, whose parent prefixes it; in this program, on a
// goroutine, to run's writer, prefixed and indented as the parent would.
func say(name, format string, args ...any) {
	if w := inProcess.Load(); w != nil {
		fmt.Fprintf(indented{*w}, "[%s] "+format, append([]any{name}, args...)...)
		return
	}
	fmt.Printf(format, args...)
}

func isPrime(n int64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 || n%3 == 0 {
		return n < 4
	}
	for d := int64(5); d*d <= n; d += 6 {
		if n%d == 0 || n%(d+2) == 0 {
			return false
		}
	}
	return true
}

// run plays the scenes in order and returns the first unexpected error.
func run(ctx context.Context, w io.Writer) error {
	w = &lockedWriter{w: w} // the actors' forwarded output shares it
	inProcess.Store(&w)     // and so does what goroutine actors print
	st := &story{w: w}
	scenes := []struct {
		title [2]string // on processes, on goroutines
		play  func(context.Context, *story) error
	}{
		{[2]string{
			"spawn: three actors start as child processes; a call runs in the child",
			"spawn: three actors start as goroutine actors; a call runs in the actor",
		}, spawnAndCall},
		{[2]string{
			"stream: three actors count primes in parallel and stream their progress back",
			"stream: three actors count primes concurrently and stream their progress back",
		}, stream},
		{[2]string{
			"failure: one actor panics; the nursery cancels its busy siblings and reaps all three",
			"failure: one actor panics; the nursery cancels its busy siblings and waits for all three",
		}, failure},
		{[2]string{
			"Ctrl-C: cancelling the root's ctx stops the whole tree, grandchildren included",
			"Ctrl-C: cancelling the root's ctx stops the whole tree, grandchildren included",
		}, cancelTree},
	}
	for i, s := range scenes {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The first scene's title waits for its actors: they tell the backend.
		st.title = func() {
			t := s.title[0]
			if st.inproc {
				t = s.title[1]
			}
			fmt.Fprintf(w, "%d. %s\n", i+1, t)
		}
		if st.known {
			st.title()
		}
		if err := s.play(ctx, st); err != nil {
			return fmt.Errorf("scene %d: %w", i+1, err)
		}
	}
	return nil
}

// A story is the demo's output, worded for the backend its actors run on,
// which the first spawned actors tell: a goroutine actor's pid is this
// program's.
type story struct {
	w      io.Writer
	known  bool   // the backend is known: the intro is printed
	inproc bool   // the actors are goroutines of this program
	title  func() // prints the current scene's title
}

// spawned learns the backend from the first actors spawned, then prints
// the intro and the first scene's title.
func (st *story) spawned(refs []*actor.Ref) {
	if st.known {
		return
	}
	st.known = true
	st.inproc = refs[0].PID() == os.Getpid()
	if !st.inproc {
		fmt.Fprintf(st.w, "This program is pid %d. Each worker below is a child process of it (the same\n"+
			"binary, re-executed), owned by a nursery that cancels and reaps it.\n", os.Getpid())
	} else {
		why := "processes cannot be spawned here"
		if strings.EqualFold(strings.TrimSpace(os.Getenv("GROVE_BACKEND")), "goroutine") {
			why = "GROVE_BACKEND=goroutine"
		}
		fmt.Fprintf(st.w, "This program is pid %d. Each worker below is a goroutine actor in it (%s),\n"+
			"served over an in-memory pipe, owned by a nursery that cancels it and waits for it.\n", os.Getpid(), why)
	}
	st.title()
}

// spawnWorkers spawns one actor per name in n, forwarding their output to
// w, indented to sit inside the scene.
func spawnWorkers(ctx context.Context, n *nursery.Nursery, st *story, names ...string) ([]*actor.Ref, error) {
	refs := make([]*actor.Ref, len(names))
	for i, name := range names {
		ref, err := actor.Spawn(ctx, n, name, actor.WithOutput(indented{st.w}))
		if err != nil {
			return nil, err
		}
		refs[i] = ref
	}
	st.spawned(refs)
	return refs, nil
}

func spawnAndCall(ctx context.Context, st *story) error {
	w := st.w
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		refs, err := spawnWorkers(ctx, n, st, "w0", "w1", "w2")
		if err != nil {
			return err
		}
		for _, ref := range refs {
			who, err := whoami.Call(ctx, ref, struct{}{})
			if err != nil {
				return err
			}
			if st.inproc {
				fmt.Fprintf(w, "   %s answers from pid %d, this program's own: it has no process of its own\n", ref.Name(), who.PID)
			} else {
				fmt.Fprintf(w, "   %s answers from pid %d, whose parent is pid %d (this program)\n", ref.Name(), who.PID, who.PPID)
			}
		}
		n.Cancel(nil) // a clean stop: each actor gets a stop message and exits
		return nil
	})
	if err != nil {
		return err
	}
	if st.inproc {
		fmt.Fprintln(w, "   n.Cancel(nil) stopped them; Run returned once all three had ended")
	} else {
		fmt.Fprintln(w, "   n.Cancel(nil) stopped them; Run returned once all three had exited")
	}
	return nil
}

func stream(ctx context.Context, st *story) error {
	w := st.w
	jobs := []Job{{0, 1_000_000, 4, "w0"}, {1_000_000, 2_000_000, 4, "w1"}, {2_000_000, 3_000_000, 4, "w2"}}
	totals := make([]int64, len(jobs))
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		refs, err := spawnWorkers(ctx, n, st, "w0", "w1", "w2")
		if err != nil {
			return err
		}
		for i, ref := range refs {
			n.Go(func(ctx context.Context) error {
				defer ref.Cancel() // done with this actor, or failed: stop it
				job := jobs[i]
				s, err := countPrimes.Open(ctx, ref, job)
				if err != nil {
					return err
				}
				for p := range s.C { // the items arrive as the actor sends them
					fmt.Fprintf(w, "   %s %3d%% of [%d, %d): %5d primes so far\n",
						ref.Name(), p.Checked*100/(job.Hi-job.Lo), job.Lo, job.Hi, p.Primes)
					totals[i] = p.Primes
				}
				return s.Err()
			})
		}
		return nil // Run waits for the readers and the actors
	})
	if err != nil {
		return err
	}
	ended, by := "exited", "processes"
	if st.inproc {
		ended, by = "ended", "goroutine actors"
	}
	fmt.Fprintf(w, "   Run returned once every stream had ended and every actor had %s:\n"+
		"   %d + %d + %d = %d primes below %d, counted by three %s at once\n",
		ended, totals[0], totals[1], totals[2], totals[0]+totals[1]+totals[2], jobs[2].Hi, by)
	return nil
}

func failure(ctx context.Context, st *story) error {
	w := st.w
	var refs []*actor.Ref
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		refs, err = spawnWorkers(ctx, n, st, "w0", "w1", "w2")
		if err != nil {
			return err
		}
		busy := make(chan struct{}, 2)
		for _, ref := range refs[:2] {
			n.Go(func(ctx context.Context) error {
				// context.Canceled once w2 fails: an echo, dropped.
				return keepBusy(ctx, ref, func() { busy <- struct{}{} })
			})
		}
		for range 2 {
			select {
			case <-busy:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		fmt.Fprintln(w, "   w0 and w1 are busy counting primes from 10^9; w2 gets the tiny range [10, 12)")
		if st.inproc {
			fmt.Fprintln(w, "   and panics. The nursery cancels w0 and w1, which stop on their own goroutines:")
		} else {
			fmt.Fprintln(w, "   and panics. The nursery cancels w0 and w1, which stop in their own processes:")
		}
		s, err := countPrimes.Open(ctx, refs[2], Job{Lo: 10, Hi: 12, Reports: 4, Name: "w2"})
		if err != nil {
			return err
		}
		for range s.C {
		}
		return s.Err() // the panic, as a *actor.RemoteError: it cancels the nursery
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *actor.RemoteError
	if !errors.As(err, &re) || !re.Panicked() {
		return fmt.Errorf("expected a remote panic, got %v", err)
	}
	fmt.Fprintf(w, "   Run returned only w2's panic, a %T whose Error() reads like a traceback:\n", re)
	for line := range strings.Lines(err.Error()) {
		fmt.Fprintln(w, strings.TrimRight("   | "+line, " \n"))
	}
	if st.inproc {
		fmt.Fprintln(w, "   and by then every actor's task had ended (Run waits for them all):")
		return ended(ctx, w, refs)
	}
	fmt.Fprintln(w, "   and by then every process had been reaped:")
	procs := make([]proc, len(refs))
	for i, ref := range refs {
		procs[i] = proc{ref.Name(), ref.PID()}
	}
	return reaped(w, procs)
}

func cancelTree(ctx context.Context, st *story) error {
	w := st.w
	root, cancel := context.WithCancel(ctx) // what signal.NotifyContext gives main
	defer cancel()
	var procs []proc
	var boss *actor.Ref
	err := nursery.Run(root, func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		boss, err = actor.Spawn(ctx, n, "boss", actor.WithOutput(indented{w}))
		if err != nil {
			return err
		}
		procs = append(procs, proc{boss.Name(), boss.PID()})
		s, err := team.Open(ctx, boss, 2)
		if err != nil {
			return err
		}
		for m := range s.C {
			procs = append(procs, proc{m.Name, m.PID})
			if len(procs) == 3 {
				// g0 and g1 report in the order they got busy.
				slices.SortFunc(procs[1:], func(a, b proc) int { return strings.Compare(a.name, b.name) })
				if st.inproc {
					fmt.Fprintln(w, "   boss spawned g0 and g1, goroutine actors too, both busy counting primes")
				} else {
					fmt.Fprintf(w, "   boss (pid %d) spawned g0 (pid %d) and g1 (pid %d), both busy counting primes\n",
						procs[0].pid, procs[1].pid, procs[2].pid)
				}
				fmt.Fprintln(w, "   cancel(), which is what Ctrl-C does to main's ctx through signal.NotifyContext:")
				cancel()
			}
		}
		return s.Err()
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !errors.Is(err, context.Canceled) {
		return fmt.Errorf("expected context.Canceled, got %v", err)
	}
	fmt.Fprintln(w, "   Run returned:", err)
	if st.inproc {
		fmt.Fprintln(w, "   and the whole tree is gone: g0's and g1's tasks ended before boss's nursery")
		fmt.Fprintln(w, "   returned, boss's before ours did:")
		return ended(ctx, w, []*actor.Ref{boss})
	}
	fmt.Fprintln(w, "   and the whole tree is gone, the grandchildren reaped by boss, boss by us:")
	return reaped(w, procs)
}

// ended reports, for each goroutine actor, that it has ended: a call to it
// fails. (It has no process whose end could be checked.)
func ended(ctx context.Context, w io.Writer, refs []*actor.Ref) error {
	for _, ref := range refs {
		if _, err := whoami.Call(ctx, ref, struct{}{}); err == nil {
			return fmt.Errorf("%s still answers calls", ref.Name())
		}
		fmt.Fprintf(w, "   %s: a call to it fails now, it has ended\n", ref.Name())
	}
	return nil
}

// A proc is an actor's process, remembered after its Ref is no longer valid.
type proc struct {
	name string
	pid  int
}

// lockedWriter serialises writes from the scenes' goroutines and from the
// forwarders of the actors' output.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// indented indents each line written to it. The actors' output arrives as
// one whole line per Write, already prefixed with the actor's name.
type indented struct{ w io.Writer }

func (i indented) Write(p []byte) (int, error) {
	var b []byte
	for line := range bytes.Lines(p) {
		b = append(append(b, "   "...), line...)
	}
	if _, err := i.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}
