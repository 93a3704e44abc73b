package main

import (
	"context"
	"sync"

	"github.com/sourcegraph/conc"
	"golang.org/x/sync/errgroup"

	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/nursery"
)

// figNursery: Go of a trivial child, joined, against errgroup and conc.
func figNursery(ctx context.Context, s settings) ([]report.Figure, error) {
	noop := func(context.Context) error { return nil }
	grove := entry{Contender: measure.Contender{Name: "grove",
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			return nursery.Run(ctx, func(ctx context.Context, nu *nursery.Nursery) error {
				for range n {
					nu.Go(noop)
				}
				return nil
			})
		}),
	}}
	bare := entry{Contender: measure.Contender{Name: "go statement and sync.WaitGroup",
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() { _ = noop(ctx) })
			}
			wg.Wait()
			return nil
		}),
	}}
	eg := entry{Contender: measure.Contender{Name: "errgroup.WithContext",
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			g, ctx := errgroup.WithContext(ctx)
			for range n {
				g.Go(func() error { return noop(ctx) })
			}
			return g.Wait()
		}),
	}}
	cc := entry{Contender: measure.Contender{Name: "conc.WaitGroup",
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			var wg conc.WaitGroup
			for range n {
				wg.Go(func() { _ = noop(ctx) })
			}
			wg.Wait()
			return nil
		}),
	}}
	g, f, peers, err := compare(ctx, s.rounds, grove, bare, eg, cc)
	if err != nil {
		return nil, err
	}
	return []report.Figure{report.NewFigure("6", "nursery Go, per child", report.Nanoseconds, g, f, peers,
		"Start and join n trivial children in one nursery (group), per child.")}, nil
}

// figBridge: RunSync from a loop over a direct call; Call against a
// channel round trip.
func figBridge(ctx context.Context, s settings) ([]report.Figure, error) {
	work := func(context.Context) (int, error) { return 1, nil }
	var lp *loop
	runSync := entry{Contender: measure.Contender{Name: "grove",
		Setup:    func(ctx context.Context) error { lp = startLoop(ctx); return nil },
		Teardown: func() error { return lp.stop() },
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			_, err := bridge.Call(ctx, lp.l, func(ctx context.Context) (int, error) {
				for range n {
					if _, err := bridge.RunSync(ctx, work); err != nil {
						return 0, err
					}
				}
				return 0, nil
			})
			return err
		}),
	}}
	direct := entry{Contender: measure.Contender{Name: "direct call",
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for range n {
				if _, err := work(ctx); err != nil {
					return err
				}
			}
			return nil
		}),
	}}
	g1, f1, _, err := compare(ctx, s.rounds, runSync, direct)
	if err != nil {
		return nil, err
	}

	var lc *loop
	call := entry{Contender: measure.Contender{Name: "grove",
		Setup:    func(ctx context.Context) error { lc = startLoop(ctx); return nil },
		Teardown: func() error { return lc.stop() },
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for range n {
				if _, err := bridge.Call(ctx, lc.l, work); err != nil {
					return err
				}
			}
			return nil
		}),
	}}
	var req, resp chan int
	channel := entry{Contender: measure.Contender{Name: "channel round trip between goroutines",
		Setup: func(context.Context) error {
			req, resp = make(chan int), make(chan int)
			go func() {
				for v := range req {
					resp <- v
				}
				close(resp)
			}()
			return nil
		},
		Teardown: func() error {
			close(req)
			<-resp
			return nil
		},
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			for i := range n {
				req <- i
				<-resp
			}
			return nil
		}),
	}}
	g2, f2, _, err := compare(ctx, s.rounds, call, channel)
	if err != nil {
		return nil, err
	}
	return []report.Figure{
		report.NewFigure("7a", "bridge RunSync from a loop", report.Nanoseconds, g1, f1, nil,
			"RunSync of a trivial function from code on a loop (a goroutine and a fresh loop per call)."),
		report.NewFigure("7b", "bridge Call", report.Nanoseconds, g2, f2, nil,
			"Call of a trivial function on a running loop from another goroutine."),
	}, nil
}

// loop is a bridge loop running on a goroutine of its own.
type loop struct {
	l    *bridge.Loop
	done chan error
}

func startLoop(ctx context.Context) *loop {
	lp := &loop{l: bridge.NewLoop(), done: make(chan error, 1)}
	go func() { lp.done <- lp.l.Run(ctx) }()
	return lp
}

func (lp *loop) stop() error {
	lp.l.Stop()
	return <-lp.done
}
