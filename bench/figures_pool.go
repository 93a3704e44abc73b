package main

import (
	"context"
	"fmt"
	"iter"

	concpool "github.com/sourcegraph/conc/pool"

	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/peer"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/pool"
)

// figPool: a Submit round trip, and Map's cost per tiny task.
func figPool(ctx context.Context, s settings) ([]report.Figure, error) {
	workers := pool.CPUCount()
	py, err := peer.StartPython(ctx, workers)
	pyAbsent := ""
	if err != nil {
		pyAbsent = errAbsent(err)
	} else {
		defer py.Close()
	}

	// Submit, one task at a time, on a one-worker pool.
	var p1 *pool.Pool
	submit := entry{Contender: measure.Contender{Name: "grove",
		Setup: func(ctx context.Context) (err error) {
			p1, err = warmPool(ctx, 1)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for i := range n {
				if _, err := pool.Submit(p1, noop, i).Result(ctx); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return p1.Shutdown(context.Background(), true) },
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
	pyApply := entry{absent: pyAbsent, Contender: measure.Contender{Name: "multiprocessing.Pool.apply",
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			_, err := py.Apply(n)
			return err
		}),
	}}
	g1, f1, peers1, err := compare(ctx, s.rounds, submit, direct, concSubmit, pyApply)
	if err != nil {
		return nil, err
	}

	// Map over tiny tasks, batched, with a worker per CPU.
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
		Teardown: func() error { return pw.Shutdown(context.Background(), true) },
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
	pyMap := entry{absent: pyAbsent, Contender: measure.Contender{Name: "multiprocessing.Pool.map",
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			_, err := py.Map(n)
			return err
		}),
	}}
	g2, f2, peers2, err := compare(ctx, s.rounds, mapped, concMap, pyMap)
	if err != nil {
		return nil, err
	}
	return []report.Figure{
		report.NewFigure("4a", "pool Submit round trip", report.Nanoseconds, g1, f1, peers1,
			"Submit and wait for one tiny task at a time on a warm one-worker pool."),
		report.NewFigure("4b", "pool Map, per tiny task", report.Nanoseconds, g2, f2, peers2,
			fmt.Sprintf("Map of an int identity function over n items, %d workers, automatic batching; Python with its default chunksize.", workers)),
	}, nil
}

// warmPool starts a pool of w workers and runs tasks until all w are up.
func warmPool(ctx context.Context, w int) (*pool.Pool, error) {
	p, err := pool.New(ctx, pool.WithWorkers(w))
	if err != nil {
		return nil, err
	}
	for range 20 {
		if len(p.PIDs()) == w {
			return p, nil
		}
		// Tasks that take a while keep workers busy, so the pool spawns
		// the rest.
		for _, err := range pool.Map(ctx, p, work, repeat(1000, 4*w), pool.WithBatchSize(1)) {
			if err != nil {
				_ = p.Shutdown(ctx, true)
				return nil, err
			}
		}
	}
	_ = p.Shutdown(ctx, true)
	return nil, fmt.Errorf("pool: %d of %d workers up after warming", len(p.PIDs()), w)
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
