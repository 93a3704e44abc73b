package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	concpool "github.com/sourcegraph/conc/pool"

	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/pool"
)

// A curveFunc measures one or more scaling curves.
type curveFunc func(ctx context.Context, s settings) ([]report.Curve, error)

// curves lists the scaling curves in the order they are printed.
var curves = []struct {
	id string
	fn curveFunc
}{
	{"nursery", curveNursery},
	{"workers", curveWorkers},
	{"payload", curvePayload},
}

// curveNursery: spawn and teardown of a nursery of N actors.
func curveNursery(ctx context.Context, s settings) ([]report.Curve, error) {
	total := report.Curve{ID: "nursery-total", Title: "spawn and teardown of a nursery of N actors, total",
		XLabel: "actors (N)", Unit: report.Nanoseconds, LogX: true, LogY: true,
		Series: []report.Series{{Name: "grove"}, {Name: "bare exec"}},
		Note:   "All N spawned concurrently; the time until the last handshake, then cancel until all are reaped."}
	per := report.Curve{ID: "nursery-per-actor", Title: "spawn and teardown of a nursery of N actors, per actor",
		XLabel: "actors (N)", Unit: report.Nanoseconds, LogX: true,
		Series: []report.Series{{Name: "grove"}, {Name: "bare exec"}},
		Note:   "Total divided by N: flat while the machine keeps up, falling while spawns overlap."}
	for _, n := range s.nurseryN {
		grove := measure.Contender{Name: "grove", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
			start := time.Now()
			err := nursery.Run(ctx, func(ctx context.Context, nu *nursery.Nursery) error {
				if _, err := spawnAll(ctx, nu, n); err != nil {
					return err
				}
				nu.Cancel(nil)
				return nil
			})
			return time.Since(start), err
		})}
		bare := measure.Contender{Name: "bare exec", Sample: measure.Once(func(context.Context) (time.Duration, error) {
			start := time.Now()
			err := bareNursery(n)
			return time.Since(start), err
		})}
		sums, err := measure.Interleave(ctx, s.slow, grove, bare)
		if err != nil {
			return nil, fmt.Errorf("nursery of %d: %w", n, err)
		}
		total.X = append(total.X, float64(n))
		per.X = append(per.X, float64(n))
		for i, sum := range sums {
			total.Series[i].Points = append(total.Series[i].Points, sum)
			per.Series[i].Points = append(per.Series[i].Points, scale(sum, 1/float64(n)))
		}
	}
	return []report.Curve{total, per}, nil
}

// bareNursery execs n bare children concurrently, reads each one's byte
// and reaps them all.
func bareNursery(n int) error {
	type result struct {
		c   *floor.Child
		err error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			c, err := floor.Start(floor.Byte, 0)
			if err == nil {
				err = c.Ready()
			}
			results <- result{c, err}
		}()
	}
	var errs []error
	for range n {
		r := <-results
		errs = append(errs, r.err)
		if r.c != nil {
			errs = append(errs, r.c.Close())
		}
	}
	return errors.Join(errs...)
}

// scale multiplies every statistic of s by f.
func scale(s measure.Summary, f float64) measure.Summary {
	s.Min, s.P25, s.Median, s.P75, s.Max = s.Min*f, s.P25*f, s.Median*f, s.P75*f, s.Max*f
	return s
}

// curveWorkers: pool throughput against the number of workers for a
// CPU-bound task.
func curveWorkers(ctx context.Context, s settings) ([]report.Curve, error) {
	c := report.Curve{ID: "workers", Title: "pool throughput against workers, CPU-bound task",
		XLabel: "workers", Unit: report.TasksPerSecond,
		Series: []report.Series{{Name: "grove pool"}, {Name: "conc pool (in-process)"}, {Name: "ideal: min(workers, CPUs) × one core"}},
		Note:   fmt.Sprintf("Tasks of %d SHA-256 rounds each; it should rise to the machine's %d CPUs and then stay flat.", s.workRounds, pool.CPUCount())}
	// One core's rate, measured in-process, gives the ideal line.
	single, err := measure.Interleave(ctx, s.rounds, measure.Contender{Name: "one core",
		Sample: measure.Rate(s.target, func(_ context.Context, n int) error {
			for range n {
				cpuWork(s.workRounds)
			}
			return nil
		})})
	if err != nil {
		return nil, err
	}
	cpus := float64(pool.CPUCount())
	for _, w := range s.workers {
		tasks := 8 * w
		var p *pool.Pool
		grove := measure.Contender{Name: "grove",
			Setup: func(ctx context.Context) (err error) {
				p, err = warmPool(ctx, w)
				return err
			},
			Sample: measure.Rate(s.target, func(ctx context.Context, n int) error {
				for _, err := range pool.Map(ctx, p, work, repeat(s.workRounds, n*tasks)) {
					if err != nil {
						return err
					}
				}
				return nil
			}),
			Teardown: func() error { return p.Close() },
		}
		inproc := measure.Contender{Name: "conc",
			Sample: measure.Rate(s.target, func(_ context.Context, n int) error {
				cp := concpool.New().WithMaxGoroutines(w)
				for range n * tasks {
					cp.Go(func() { cpuWork(s.workRounds) })
				}
				cp.Wait()
				return nil
			}),
		}
		sums, err := measure.Interleave(ctx, s.rounds, grove, inproc)
		if err != nil {
			return nil, fmt.Errorf("%d workers: %w", w, err)
		}
		c.X = append(c.X, float64(w))
		// Rate counts calls of the op; each call ran tasks tasks.
		c.Series[0].Points = append(c.Series[0].Points, scale(sums[0], float64(tasks)))
		c.Series[1].Points = append(c.Series[1].Points, scale(sums[1], float64(tasks)))
		c.Series[2].Points = append(c.Series[2].Points, scale(single[0], min(float64(w), cpus)))
	}
	return []report.Curve{c}, nil
}

// curvePayload: call round trip against payload size.
func curvePayload(ctx context.Context, s settings) (_ []report.Curve, err error) {
	c := report.Curve{ID: "payload", Title: "call round trip against payload size",
		XLabel: "payload, each way", XUnit: report.Bytes, Unit: report.Nanoseconds, LogX: true, LogY: true,
		Series: []report.Series{{Name: "grove"}, {Name: "bare socketpair ping-pong"}},
		Note:   "An echo of a []byte of the size; the floor sends the same bytes and reads them back whole."}
	g, err := spawnGroup(ctx, 1)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, g.Close()) }()
	for _, size := range s.payloads {
		payload := make([]byte, size)
		grove := measure.Contender{Name: "grove",
			Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
				for range n {
					out, err := echo.Call(ctx, g.refs[0], payload)
					if err != nil {
						return err
					}
					if len(out) != size {
						return fmt.Errorf("echo: %d bytes back of %d", len(out), size)
					}
				}
				return nil
			}),
		}
		sums, err := measure.Interleave(ctx, s.rounds, grove, pingPongEntry(s, size).Contender)
		if err != nil {
			return nil, fmt.Errorf("payload %d: %w", size, err)
		}
		c.X = append(c.X, float64(size))
		for i, sum := range sums {
			c.Series[i].Points = append(c.Series[i].Points, sum)
		}
	}
	return []report.Curve{c}, nil
}
