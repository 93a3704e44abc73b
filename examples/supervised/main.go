// Command supervised is grove's demo of supervision and discovery by name:
// a small service tree under a supervisor, whose members find each other
// by name rather than by being handed Refs.
//
// The tree is three actors, children of this program (the binary
// re-executes itself):
//
//   - cache, an actor of this program's nursery, registers itself under the
//     name "cache" ([actor.Register] with [actor.Unique] and [actor.Expose]
//     of its get and put) and serves them from its memory;
//   - w0 and w1, workers, run as [supervise.ActorChild]ren of a
//     [supervise.Run] supervisor (OneForOne); each finds the cache by name
//     ([actor.Wait]) and stores the squares of its items in it, with how
//     far it got;
//   - w1's first incarnation crashes on its third item, told to by the
//     argument of its call (never by timing). The supervisor logs the
//     failure and restarts w1 in a new actor, which finds the cache again
//     and resumes after the last item the first one stored: the cache
//     outlived the crash, which failed only w1. Once both workers have
//     done their job, the supervisor returns.
//
// Then a client, this program's own code, finds the cache by name
// ([actor.Find]), adds up the squares, and is refused a function the cache
// did not expose ([actor.ErrNotExposed]). Cancelling the tree stops every
// actor, and the name goes with its owner: Find fails with
// [actor.ErrNotFound]. The supervisor's events are logged with log/slog,
// without times; nothing printed depends on pids, ids or scheduling.
//
// How w1 crashes depends on the backend. In a child process it calls
// os.Exit(3): its process dies mid-call, and the supervisor sees an
// [*actor.ExitError]. With GROVE_BACKEND=goroutine (or where processes
// cannot be spawned) the actors are goroutines of this program, where
// os.Exit would end the whole program; there w1 panics in its call
// instead, which comes back as a panicked [*actor.RemoteError]: a failure
// the supervisor handles the same way.
//
//	go run ./examples/supervised
//	GROVE_BACKEND=goroutine go run ./examples/supervised
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/supervise"
)

func main() {
	actor.Main() // first: run as an actor, this binary serves its parent here and never returns

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "supervised:", err)
		os.Exit(1)
	}
}

// The name the cache registers, and its workers and client find.
const cacheName = "cache"

// The functions the actors run, package-level variables so that the parent
// and every child (the same binary) register the same names.
var (
	// serveCache makes the actor it runs in the cache: it empties the
	// memory and registers the actor under cacheName, exposing get and put
	// (and nothing else) to the peers that find it. The registration lasts
	// as long as the actor.
	serveCache = actor.Func("supervised.serveCache", func(ctx context.Context, _ struct{}) (struct{}, error) {
		memory.reset()
		_, err := actor.Register(ctx, cacheName, actor.Unique(), actor.Expose(get, put))
		return struct{}{}, err
	})

	// get answers the value stored under a key.
	get = actor.Func("supervised.get", func(ctx context.Context, key string) (Entry, error) {
		return memory.get(key), nil
	})

	// put stores a value under a key.
	put = actor.Func("supervised.put", func(ctx context.Context, kv KV) (struct{}, error) {
		memory.put(kv)
		return struct{}{}, nil
	})

	// work does a worker's job through the cache it finds by name.
	work = actor.Func("supervised.work", doWork)
)

// An Entry is get's answer: the value, if the key has one.
type Entry struct {
	Value int
	OK    bool
}

// A KV is put's argument.
type KV struct {
	Key   string
	Value int
}

// A Job is a worker's work: store the square of every item in [From, To]
// in the cache. CrashAt, if not 0, is the item at which to crash, by Crash
// ("exit" or "panic").
type Job struct {
	Worker   string
	From, To int
	CrashAt  int
	Crash    string
}

// A Report says which items an incarnation of a worker stored.
type Report struct{ First, Last int }

// store is the cache's memory. It is this package's, so each cache actor
// process has its own; on the goroutine backend the actors share this
// program's, and the tree has one cache, which empties it as it starts.
type store struct {
	mu sync.Mutex
	m  map[string]int
}

var memory store

func (s *store) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = map[string]int{}
}

func (s *store) get(key string) Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return Entry{v, ok}
}

func (s *store) put(kv KV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[kv.Key] = kv.Value
}

// squareKey is where the square of item i is stored; doneKey is where a
// worker records the last item it stored.
func squareKey(i int) string       { return fmt.Sprintf("square/%d", i) }
func doneKey(worker string) string { return worker + "/done" }

// doWork runs in a worker actor. It waits for the cache by name, resumes
// after the last item this worker stored there (by an earlier incarnation,
// which crashed), and stores the square of each remaining item.
func doWork(ctx context.Context, job Job) (Report, error) {
	cache, err := actor.Wait(ctx, cacheName)
	if err != nil {
		return Report{}, err
	}
	first := job.From
	done, err := get.Call(ctx, cache, doneKey(job.Worker))
	if err != nil {
		return Report{}, err
	}
	if done.OK {
		first = done.Value + 1
	}
	for i := first; i <= job.To; i++ {
		if i == job.CrashAt {
			crash(job, i)
		}
		if _, err := put.Call(ctx, cache, KV{squareKey(i), i * i}); err != nil {
			return Report{}, err
		}
		if _, err := put.Call(ctx, cache, KV{doneKey(job.Worker), i}); err != nil {
			return Report{}, err
		}
	}
	return Report{first, job.To}, nil
}

// crash ends the worker as its job says: its process exits, or its call
// panics (on the goroutine backend, where os.Exit would end the program).
func crash(job Job, item int) {
	if job.Crash == "exit" {
		os.Exit(3)
	}
	panic(fmt.Sprintf("%s crashes at item %d, as told", job.Worker, item))
}

// The workers, their items, and where w1's first incarnation crashes.
var workers = []Job{
	{Worker: "w0", From: 1, To: 5},
	{Worker: "w1", From: 6, To: 10},
}

const (
	crasher = "w1"
	crashAt = 8 // w1's third item
)

// A tree is the record of one run's workers.
type tree struct {
	w io.Writer

	mu          sync.Mutex
	incarnation map[string]int
	reports     map[string][]Report
}

// run plays the demo on w and returns the first unexpected error.
func run(ctx context.Context, w io.Writer) error {
	// The supervisor's log writes to w only while supervise.Run runs, and
	// run writes only before and after: no lock is needed.
	t := &tree{w: w, incarnation: map[string]int{}, reports: map[string][]Report{}}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	var children []supervise.Child
	for _, job := range workers {
		children = append(children, supervise.ActorChild(job.Worker, supervise.Transient, nil, t.worker(job)))
	}
	spec := supervise.Spec{
		Strategy: supervise.OneForOne,
		Children: children,
		OnEvent:  func(e supervise.Event) { logEvent(log, e) },
	}

	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		cache, err := actor.Spawn(ctx, n, cacheName)
		if err != nil {
			return err
		}
		if _, err := serveCache.Call(ctx, cache, struct{}{}); err != nil {
			return err
		}
		fmt.Fprintf(w, "== the cache is up, registered as %q; the workers start under a supervisor\n", cacheName)
		// Run returns once both workers have done their job (Transient
		// children that ended normally), every event logged.
		if err := supervise.Run(ctx, spec); err != nil {
			return err
		}
		t.summary()
		if err := client(ctx, w); err != nil {
			return err
		}
		fmt.Fprintln(w, "== the tree is cancelled")
		n.Cancel(nil) // a clean stop: the cache's actor is stopped, Run waits for it
		return nil
	})
	if err != nil {
		return err
	}
	_, err = actor.Find(ctx, cacheName)
	if !errors.Is(err, actor.ErrNotFound) {
		return fmt.Errorf("after the cancel, Find(%q) should fail with ErrNotFound, got %v", cacheName, err)
	}
	fmt.Fprintf(w, "every actor has stopped, and the name went with its owner: Find(%q) matches actor.ErrNotFound\n", cacheName)
	return nil
}

// worker is the body of job's ActorChild, run once per incarnation: it
// has the actor do the job, and w1's first incarnation crash at crashAt.
func (t *tree) worker(spec Job) func(ctx context.Context, ref *actor.Ref) error {
	return func(ctx context.Context, ref *actor.Ref) error {
		job := spec // this incarnation's
		t.mu.Lock()
		t.incarnation[job.Worker]++
		first := t.incarnation[job.Worker] == 1
		t.mu.Unlock()
		if job.Worker == crasher && first {
			job.CrashAt, job.Crash = crashAt, "exit"
			if ref.PID() == os.Getpid() { // a goroutine actor: os.Exit would end this program
				job.Crash = "panic"
			}
		}
		rep, err := work.Call(ctx, ref, job)
		if err != nil {
			return err // the actor's death (or panic): the supervisor restarts it
		}
		t.mu.Lock()
		t.reports[job.Worker] = append(t.reports[job.Worker], rep)
		t.mu.Unlock()
		return nil
	}
}

// summary prints which items each worker's incarnations stored.
func (t *tree) summary() {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.w, "== the workers are done")
	for _, job := range workers {
		for _, r := range t.reports[job.Worker] {
			fmt.Fprintf(t.w, "%s stored items %d..%d", job.Worker, r.First, r.Last)
			if r.First > job.From {
				fmt.Fprintf(t.w, " (incarnation %d, resuming after item %d, the last its crashed predecessor stored in the cache)",
					t.incarnation[job.Worker], r.First-1)
			}
			fmt.Fprintln(t.w)
		}
	}
}

// client finds the cache by name, as any code of the tree can, and reads
// what the workers stored.
func client(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "== a client finds the cache by name")
	cache, err := actor.Find(ctx, cacheName)
	if err != nil {
		return err
	}
	last := workers[len(workers)-1].To
	sum := 0
	for i := 1; i <= last; i++ {
		e, err := get.Call(ctx, cache, squareKey(i))
		if err != nil {
			return err
		}
		if !e.OK {
			return fmt.Errorf("the cache has no square of %d", i)
		}
		sum += e.Value
	}
	fmt.Fprintf(w, "client: the squares of 1..%d in the cache add up to %d\n", last, sum)
	_, err = serveCache.Call(ctx, cache, struct{}{})
	if !errors.Is(err, actor.ErrNotExposed) {
		return fmt.Errorf("a call of serveCache through the name should match ErrNotExposed, got %v", err)
	}
	fmt.Fprintln(w, "client: a call of serveCache through the name is refused (actor.ErrNotExposed): the cache exposed only get and put")
	return nil
}

// logEvent logs a supervisor's event, in words that do not depend on pids
// or actor ids.
func logEvent(log *slog.Logger, e supervise.Event) {
	switch e.Kind {
	case supervise.Failed:
		log.Warn("child failed", "child", e.Child, "restarts", e.Restarts, "why", why(e.Err))
	case supervise.GaveUp:
		log.Error("supervisor gave up", "child", e.Child, "err", e.Err)
	default:
		log.Info("child "+e.Kind.String(), "child", e.Child, "restarts", e.Restarts)
	}
}

// why says how a child failed: its actor's death, its panic, or its error.
func why(err error) string {
	var exit *actor.ExitError
	var re *actor.RemoteError
	switch {
	case errors.As(err, &exit) && exit.Signal == 0:
		return fmt.Sprintf("its process exited with code %d", exit.Code)
	case errors.As(err, &exit):
		return fmt.Sprintf("its process was killed by signal %v", exit.Signal)
	case errors.As(err, &re) && re.Panicked():
		return "it panicked: " + re.Message
	}
	return err.Error()
}

// dropTime leaves the time out of the log's records, so that the output
// is the same from run to run.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
