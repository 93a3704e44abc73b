package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	concpool "github.com/sourcegraph/conc/pool"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/peer"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/pool"
)

// pyPeers are the Python pools a pool figure sets grove beside:
// multiprocessing's and loky's, each started if the figure wants it, or
// absent with the reason.
type pyPeers struct {
	mp         *peer.Python
	mpAbsent   string
	loky       *peer.Loky
	lokyAbsent string
}

// startPyPeers starts multiprocessing's pool of workers processes (if
// mp) and loky on the run's interpreter for it (if loky). A peer that
// cannot start is absent with the reason. The caller must Close the
// result.
func startPyPeers(ctx context.Context, s settings, workers int, mp, loky bool) *pyPeers {
	p := &pyPeers{}
	var err error
	if mp {
		if p.mp, err = peer.StartPython(ctx, workers); err != nil {
			p.mp, p.mpAbsent = nil, errAbsent(err)
		}
	}
	switch {
	case !loky:
	case s.noLoky != nil:
		p.lokyAbsent = errAbsent(s.noLoky)
	default:
		if p.loky, err = peer.StartLoky(ctx, s.loky); err != nil {
			p.loky, p.lokyAbsent = nil, errAbsent(err)
		}
	}
	return p
}

// Close stops the peers that started.
func (p *pyPeers) Close() {
	if p.mp != nil {
		_ = p.mp.Close()
	}
	if p.loky != nil {
		_ = p.loky.Close()
	}
}

// figSubmit: a Submit round trip, one task at a time.
func figSubmit(ctx context.Context, s settings) ([]report.Figure, error) {
	py := startPyPeers(ctx, s, 1, true, true)
	defer py.Close()

	var p1 *pool.Pool
	submit := entry{Contender: measure.Contender{Name: "grove",
		Setup: func(ctx context.Context) (err error) {
			p1, err = warmPool(ctx, 1)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for i := range n {
				// Background: the figure is Submit's own cost, without the watch of a
				// cancellable ctx (the pool package's BenchmarkSubmit measures both).
				if _, err := pool.Submit(context.Background(), p1, noop, i).Result(ctx); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return p1.Close() },
	}}
	var g *group
	direct := entry{Contender: measure.Contender{Name: "the same call made directly on an actor",
		Setup: func(ctx context.Context) (err error) {
			g, err = spawnGroup(ctx, 1)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for i := range n {
				if _, err := noop.Call(ctx, g.refs[0], i); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return g.Close() },
	}}
	var cp *concpool.Pool
	concSubmit := entry{Contender: measure.Contender{Name: "conc pool (in-process)",
		Setup: func(context.Context) error {
			cp = concpool.New().WithMaxGoroutines(1)
			return nil
		},
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			res := make(chan int)
			for i := range n {
				cp.Go(func() { res <- i })
				<-res
			}
			return nil
		}),
		Teardown: func() error { cp.Wait(); return nil },
	}}
	pyApply := entry{absent: py.mpAbsent, Contender: measure.Contender{Name: "multiprocessing.Pool.apply",
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			_, err := py.mp.Apply(n)
			return err
		}),
	}}
	lokySubmit := entry{absent: py.lokyAbsent, Contender: measure.Contender{Name: "loky submit(...).result()",
		// The executor's start, outside the calibration of the samples.
		Setup: func(context.Context) error {
			_, err := py.loky.Submit(1, 1)
			return err
		},
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			_, err := py.loky.Submit(n, 1)
			return err
		}),
	}}
	g1, f1, peers1, err := compare(ctx, s.rounds, submit, direct, concSubmit, pyApply, lokySubmit)
	if err != nil {
		return nil, err
	}
	return []report.Figure{
		report.NewFigure("4a", "pool Submit round trip", report.Nanoseconds, g1, f1, peers1,
			"Submit and wait for one tiny task at a time on a warm one-worker pool (loky: get_reusable_executor(max_workers=1))."),
	}, nil
}

// lokyChunks are the chunk sizes figMap tries for loky's map, keeping the
// fastest: loky's users pick chunksize themselves.
var lokyChunks = []int{1, 10, 100, 1000, 10000, 100000}

// figMap: Map's cost per tiny task, batched, with a worker per CPU.
func figMap(ctx context.Context, s settings) ([]report.Figure, error) {
	workers := pool.CPUCount()
	py := startPyPeers(ctx, s, workers, true, true)
	defer py.Close()

	var pw *pool.Pool
	mapped := entry{Contender: measure.Contender{Name: "grove",
		Setup: func(ctx context.Context) (err error) {
			pw, err = warmPool(ctx, workers)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			got := 0
			for _, err := range pool.Map(ctx, pw, noop, count(n)) {
				if err != nil {
					return err
				}
				got++
			}
			if got != n {
				return fmt.Errorf("map: %d results of %d", got, n)
			}
			return nil
		}),
		Teardown: func() error { return pw.Close() },
	}}
	concMap := entry{Contender: measure.Contender{Name: fmt.Sprintf("conc result pool, %d goroutines (in-process)", workers),
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			rp := concpool.NewWithResults[int]().WithMaxGoroutines(workers)
			for i := range n {
				rp.Go(func() int { return i })
			}
			if got := len(rp.Wait()); got != n {
				return fmt.Errorf("conc map: %d results of %d", got, n)
			}
			return nil
		}),
	}}
	pyMap := entry{absent: py.mpAbsent, Contender: measure.Contender{Name: "multiprocessing.Pool.map",
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			_, err := py.mp.Map(n)
			return err
		}),
	}}
	chunk := 0
	lokyMap := entry{absent: py.lokyAbsent, Contender: measure.Contender{Name: "loky map, best chunksize",
		Setup: func(context.Context) (err error) {
			chunk, err = bestLokyChunk(py.loky, workers, s.target)
			return err
		},
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			_, err := py.loky.Map(n, workers, chunk)
			return err
		}),
	}}
	g2, f2, peers2, err := compare(ctx, s.rounds, mapped, concMap, pyMap, lokyMap)
	if err != nil {
		return nil, err
	}
	lokyNote := "loky absent"
	if chunk > 0 {
		lokyNote = fmt.Sprintf("loky's map with chunksize=%d, the fastest of %s in a trial before the rounds", chunk, strings.Trim(fmt.Sprint(lokyChunks), "[]"))
	}
	return []report.Figure{
		report.NewFigure("4b", "pool Map, per tiny task", report.Nanoseconds, g2, f2, peers2,
			fmt.Sprintf("Map of an int identity function over n items, %d workers, automatic batching; multiprocessing with its default chunksize; %s.", workers, lokyNote)),
	}, nil
}

// bestLokyChunk returns the chunk size of lokyChunks whose map costs
// least a task on loky's executor of workers workers, the better of two
// tries each. A try maps 20 chunks (at least 1000 items) but at most
// about as many items as a sample of target will (loky takes some 250 ns
// a task at best), so that a chunk too large to spread a sample's map over
// the workers pays for it here too.
func bestLokyChunk(l *peer.Loky, workers int, target time.Duration) (int, error) {
	most := max(1000, int(target/(250*time.Nanosecond)))
	best, bestCost := 0, 0.0
	for _, c := range lokyChunks {
		n := min(most, max(1000, 20*c))
		for range 2 {
			d, err := l.Map(n, workers, c)
			if err != nil {
				return 0, err
			}
			if cost := float64(d) / float64(n); best == 0 || cost < bestCost {
				best, bestCost = c, cost
			}
		}
	}
	return best, nil
}

// figPoolStart: a new pool's start to its first result.
func figPoolStart(ctx context.Context, s settings) ([]report.Figure, error) {
	workers := pool.CPUCount()
	py := startPyPeers(ctx, s, 1, true, true)
	defer py.Close()

	grove := entry{Contender: measure.Contender{Name: "grove", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		p, err := pool.New(ctx, pool.WithWorkers(workers))
		if err != nil {
			return 0, err
		}
		_, err = pool.Submit(ctx, p, noop, 0).Result(ctx)
		d := time.Since(start)
		return d, errors.Join(err, p.Close())
	})}}
	bare := entry{Contender: measure.Contender{Name: "bare exec, one byte on a socketpair", Sample: measure.Once(func(context.Context) (time.Duration, error) {
		return floor.SpawnOnce()
	})}}
	mp := entry{absent: py.mpAbsent, Contender: measure.Contender{Name: "multiprocessing.Pool (fork)", Sample: measure.Once(func(context.Context) (time.Duration, error) {
		return py.mp.Spawn(workers)
	})}}
	loky := entry{absent: py.lokyAbsent, Contender: measure.Contender{Name: "loky get_reusable_executor", Sample: measure.Once(func(context.Context) (time.Duration, error) {
		return py.loky.Spawn(workers)
	})}}
	g, f, peers, err := compare(ctx, s.rounds, grove, bare, mp, loky)
	if err != nil {
		return nil, err
	}
	return []report.Figure{report.NewFigure("4c", "pool start to first result", report.Nanoseconds, g, f, peers,
		fmt.Sprintf("From no pool until the first tiny task's result, %d workers: grove's pool spawns a worker per queued task (figure 1 is one actor's spawn); multiprocessing forks all of them from a warm interpreter; loky's get_reusable_executor starts all of them as fresh interpreters (fork and exec); teardown outside the timed part.", workers))}, nil
}

// inflightPerWorker is how many tasks a worker figPoolCrash's trial
// submits right after the crashing one.
const inflightPerWorker = 2

// figPoolCrash: a worker that crashes under its task, to the next result.
func figPoolCrash(ctx context.Context, s settings) ([]report.Figure, error) {
	workers := pool.CPUCount()
	others := inflightPerWorker * workers
	py := startPyPeers(ctx, s, workers, false, true)
	defer py.Close()

	groveFailed := -1
	var pc *pool.Pool
	grove := entry{Contender: measure.Contender{Name: "grove",
		Setup: func(ctx context.Context) (err error) {
			if pc, err = warmPool(ctx, workers, neverBroken); err != nil {
				return err
			}
			groveFailed, err = crashInFlight(ctx, pc, others)
			return err
		},
		Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
			if err := fillPool(ctx, pc, workers); err != nil {
				return 0, err
			}
			return crashToNext(ctx, pc)
		}),
		Teardown: func() error { return pc.Close() },
	}}
	var pf *pool.Pool
	healthy := entry{Contender: measure.Contender{Name: "the same two round trips, nothing crashing",
		Setup: func(ctx context.Context) (err error) {
			pf, err = warmPool(ctx, workers)
			return err
		},
		Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
			start := time.Now()
			for i := range 2 {
				if _, err := pool.Submit(ctx, pf, noop, i).Result(ctx); err != nil {
					return 0, err
				}
			}
			return time.Since(start), nil
		}),
		Teardown: func() error { return pf.Close() },
	}}
	var p1 *pool.Pool
	one := entry{Contender: measure.Contender{Name: "grove, one-worker pool (the replacement's first result)",
		Setup: func(ctx context.Context) (err error) {
			p1, err = warmPool(ctx, 1, neverBroken)
			return err
		},
		Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
			if err := fillPool(ctx, p1, 1); err != nil {
				return 0, err
			}
			return crashToNext(ctx, p1)
		}),
		Teardown: func() error { return p1.Close() },
	}}
	lokyFailed := -1
	loky := entry{absent: py.lokyAbsent, Contender: measure.Contender{Name: "loky (the whole executor respawned)",
		Setup: func(context.Context) error {
			c, err := py.loky.Crash(workers, others)
			lokyFailed = c.Failed
			return err
		},
		Sample: measure.Once(func(context.Context) (time.Duration, error) {
			c, err := py.loky.Crash(workers, 0)
			return c.Recovery, err
		}),
	}}
	g, f, peers, err := compare(ctx, s.slow, grove, healthy, one, loky)
	if err != nil {
		return nil, err
	}
	lokyNote := " (loky absent)"
	if lokyFailed >= 0 {
		lokyNote = fmt.Sprintf(" and %d of %d on loky's (TerminatedWorkerError)", lokyFailed, others)
	}
	return []report.Figure{report.NewFigure("4d", "pool worker crash, to the next result", report.Nanoseconds, g, f, peers,
		fmt.Sprintf("From the submit of a task that ends its worker (os.Exit(3); loky: os._exit(3)) until a tiny task submitted once that task's failure was reported has its result, on a warm pool of %d workers: grove fails only that task, runs the next on a survivor and replaces the dead worker; loky breaks its executor and get_reusable_executor starts a new one. Of %d 200 ms tasks submitted right after the crashing one (a trial before the rounds), %d failed on grove's pool%s.", workers, others, groveFailed, lokyNote))}, nil
}

// neverBroken lifts the crash limit, so that a figure's many crashes do
// not break its pool.
var neverBroken = pool.WithCrashLimit(1<<30, time.Second)

// crashToNext times, on p, a task that ends its worker until a task
// submitted once that failure was reported has its result.
func crashToNext(ctx context.Context, p *pool.Pool) (time.Duration, error) {
	start := time.Now()
	if _, err := pool.Submit(ctx, p, crash, 0).Result(ctx); !crashed(err) {
		return 0, fmt.Errorf("the crashing task: got %v, want an *actor.ExitError", err)
	}
	if _, err := pool.Submit(ctx, p, noop, 1).Result(ctx); err != nil {
		return 0, fmt.Errorf("the task after the crash: %w", err)
	}
	return time.Since(start), nil
}

// crashed reports whether err is the *actor.ExitError of a worker that
// died under its task.
func crashed(err error) bool {
	var ee *actor.ExitError
	return errors.As(err, &ee)
}

// crashInFlight submits to p a task that ends its worker, then others
// tasks of 200 ms, and returns how many of the others failed.
func crashInFlight(ctx context.Context, p *pool.Pool, others int) (int, error) {
	dying := pool.Submit(ctx, p, crash, 0)
	futures := make([]*pool.Future[int], others)
	for i := range futures {
		futures[i] = pool.Submit(ctx, p, nap, 200)
	}
	if _, err := dying.Result(ctx); !crashed(err) {
		return 0, fmt.Errorf("the crashing task: got %v, want an *actor.ExitError", err)
	}
	failed := 0
	for _, f := range futures {
		if _, err := f.Result(ctx); err != nil {
			if ctx.Err() != nil {
				return 0, context.Cause(ctx)
			}
			failed++
		}
	}
	return failed, nil
}

// warmPool starts a pool of w workers, with opts, and runs tasks until
// all w are up.
func warmPool(ctx context.Context, w int, opts ...pool.Option) (*pool.Pool, error) {
	p, err := pool.New(ctx, append(opts, pool.WithWorkers(w))...)
	if err != nil {
		return nil, err
	}
	if err := fillPool(ctx, p, w); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// fillPool runs tasks on p until w workers are up.
func fillPool(ctx context.Context, p *pool.Pool, w int) error {
	for range 20 {
		if len(p.PIDs()) == w {
			return nil
		}
		// Tasks that take a while, however busy the machine, keep workers
		// busy, so the pool spawns the rest.
		for _, err := range pool.Map(ctx, p, nap, repeat(10, 4*w), pool.WithBatchSize(1)) {
			if err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("pool: %d of %d workers up after warming", len(p.PIDs()), w)
}

// count yields 0..n-1.
func count(n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := range n {
			if !yield(i) {
				return
			}
		}
	}
}

// repeat yields v n times.
func repeat(v, n int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for range n {
			if !yield(v) {
				return
			}
		}
	}
}
