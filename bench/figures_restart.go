package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/supervise"
)

// figRestart: an ActorChild's restart, from the call that crashes its
// actor to the first successful call of the new incarnation, beside a
// spawn to the first call.
func figRestart(ctx context.Context, s settings) ([]report.Figure, error) {
	payload := make([]byte, smallPayload)
	var sup *supervised
	restart := entry{Contender: measure.Contender{Name: "grove",
		Setup: func(ctx context.Context) (err error) {
			sup, err = startSupervised(ctx)
			return err
		},
		Sample:   measure.Once(func(ctx context.Context) (time.Duration, error) { return sup.restart(ctx, payload) }),
		Teardown: func() error { return sup.stop() },
	}}
	spawn := entry{Contender: measure.Contender{Name: "Spawn to first call, unsupervised", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		return spawnFirstCall(ctx, payload)
	})}}
	bare := entry{Contender: measure.Contender{Name: "bare exec, one byte on a socketpair", Sample: measure.Once(func(context.Context) (time.Duration, error) {
		return floor.SpawnOnce()
	})}}
	g, f, peers, err := compare(ctx, s.rounds, restart, spawn, bare)
	if err != nil {
		return nil, err
	}
	return []report.Figure{report.NewFigure("10", "ActorChild restart", report.Nanoseconds, g, f, peers,
		"From the call that crashes a supervised actor (OneForOne) until the new incarnation's first 64-byte echo returns: the death seen, the process reaped, a new one spawned.")}, nil
}

// supervised is a OneForOne supervisor of one ActorChild, running on a
// goroutine of its own, which hands over each incarnation's Ref.
type supervised struct {
	ref    *actor.Ref // the live incarnation's
	refs   chan *actor.Ref
	cancel context.CancelFunc
	done   chan error
}

// startSupervised starts the supervisor and returns once its child's
// first incarnation runs.
func startSupervised(ctx context.Context) (*supervised, error) {
	ctx, cancel := context.WithCancel(ctx)
	sup := &supervised{refs: make(chan *actor.Ref), cancel: cancel, done: make(chan error, 1)}
	worker := supervise.ActorChild("bench-restart", supervise.Permanent, nil, func(ctx context.Context, ref *actor.Ref) error {
		select {
		case sup.refs <- ref:
		case <-ctx.Done():
			return nil
		}
		<-ctx.Done()
		return nil
	})
	go func() {
		sup.done <- supervise.Run(ctx, supervise.Spec{
			Strategy:  supervise.OneForOne,
			Intensity: 1 << 30, // never give up while measuring
			Period:    time.Second,
			Children:  []supervise.Child{worker},
		})
	}()
	select {
	case sup.ref = <-sup.refs:
		return sup, nil
	case err := <-sup.done:
		cancel()
		return nil, fmt.Errorf("the supervisor ended before its child started: %w", err)
	}
}

// restart crashes the live incarnation and times it until the next one
// has answered a call.
func (sup *supervised) restart(ctx context.Context, payload []byte) (time.Duration, error) {
	start := time.Now()
	if _, err := crash.Call(ctx, sup.ref, 0); err == nil {
		return 0, errors.New("restart: the crash call returned: the actor did not die")
	}
	select {
	case sup.ref = <-sup.refs:
	case err := <-sup.done:
		return 0, fmt.Errorf("restart: the supervisor ended: %w", err)
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	}
	if _, err := echo.Call(ctx, sup.ref, payload); err != nil {
		return 0, fmt.Errorf("restart: the new incarnation's call: %w", err)
	}
	return time.Since(start), nil
}

// stop cancels the supervisor and waits until it has reaped its child.
func (sup *supervised) stop() error {
	sup.cancel()
	if err := <-sup.done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
