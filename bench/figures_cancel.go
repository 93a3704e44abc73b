package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/nursery"
)

const (
	// cancelActors is the size of the nursery the cancellation figures
	// cancel.
	cancelActors = 50
	// cancelGrace and cancelKill are the ladder of the figure for
	// functions that ignore their context: short, so the run stays short,
	// and the kill delay below the actor's own exit delay, so every
	// process climbs the whole ladder to SIGKILL.
	cancelGrace = 200 * time.Millisecond
	cancelKill  = 200 * time.Millisecond
)

// figCancel: from cancelling a nursery of busy actors until every process
// is reaped, for cooperative functions and for functions that ignore ctx.
func figCancel(ctx context.Context, s settings) ([]report.Figure, error) {
	coop := entry{Contender: measure.Contender{Name: "grove", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		return cancelBusy(ctx, busy)
	})}}
	term := entry{Contender: measure.Contender{Name: "SIGTERM to bare busy children, then reap", Sample: measure.Once(func(context.Context) (time.Duration, error) {
		return signalSpinners(syscall.SIGTERM)
	})}}
	g1, f1, _, err := compare(ctx, s.slow, coop, term)
	if err != nil {
		return nil, err
	}
	ladder := cancelGrace + cancelKill
	ignoring := entry{Contender: measure.Contender{Name: "grove", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		d, err := cancelBusy(ctx, deaf, actor.WithGrace(cancelGrace), actor.WithKillDelay(cancelKill))
		return d - ladder, err
	})}}
	kill := entry{Contender: measure.Contender{Name: "SIGKILL to bare busy children, then reap", Sample: measure.Once(func(context.Context) (time.Duration, error) {
		return signalSpinners(syscall.SIGKILL)
	})}}
	g2, f2, _, err := compare(ctx, s.slow, ignoring, kill)
	if err != nil {
		return nil, err
	}
	return []report.Figure{
		report.NewFigure("5a", fmt.Sprintf("cancel %d busy actors", cancelActors), report.Nanoseconds, g1, f1, nil,
			fmt.Sprintf("From nursery Cancel until Run returns with all %d processes reaped; each was running a CPU loop that checks its ctx.", cancelActors)),
		report.NewFigure("5b", fmt.Sprintf("cancel %d ctx-ignoring actors, beyond grace", cancelActors), report.Nanoseconds, g2, f2, nil,
			fmt.Sprintf("As 5a with functions that never look at ctx: time beyond the configured grace (%v) and kill delay (%v).", cancelGrace, cancelKill)),
	}, nil
}

// cancelBusy spawns cancelActors actors, starts fn on each and waits until
// all run, then times the nursery's cancel until Run has returned.
func cancelBusy(ctx context.Context, fn *actor.StreamFunction[int, int], opts ...actor.Option) (time.Duration, error) {
	var start time.Time
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		refs, err := spawnAll(ctx, n, cancelActors, opts...)
		if err != nil {
			return err
		}
		var running sync.WaitGroup
		for _, ref := range refs {
			running.Add(1)
			n.Go(func(ctx context.Context) error {
				st, err := fn.Open(ctx, ref, 0)
				if err != nil {
					running.Done()
					return err
				}
				<-st.C // it has started
				running.Done()
				for range st.C {
				}
				if err := st.Err(); err != nil && ctx.Err() == nil {
					return err
				}
				return nil
			})
		}
		running.Wait()
		start = time.Now()
		n.Cancel(nil)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// signalSpinners starts cancelActors bare busy children, waits until all
// run, then times sending each sig and reaping them all.
func signalSpinners(sig syscall.Signal) (time.Duration, error) {
	children := make([]*floor.Child, 0, cancelActors)
	var errs []error
	for range cancelActors {
		c, err := floor.Start(floor.Spin, 0)
		if err != nil {
			errs = append(errs, err)
			break
		}
		children = append(children, c)
	}
	for _, c := range children {
		if err := c.Ready(); err != nil {
			errs = append(errs, err)
		}
	}
	start := time.Now()
	for _, c := range children {
		_ = c.Cmd.Process.Signal(sig)
	}
	for _, c := range children {
		if err := c.Signal(sig); err != nil {
			errs = append(errs, err)
		}
	}
	return time.Since(start), errors.Join(errs...)
}
