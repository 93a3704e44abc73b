package main

import (
	"context"
	"errors"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/report"
)

// benchName is the name the discovery figures register.
const benchName = "bench.echo"

// figNames: Find in a child, beside a call on its link; a call on a Ref
// from Find, beside the same call on the Ref from Spawn.
func figNames(ctx context.Context, s settings) ([]report.Figure, error) {
	find := siblingEntry(s, "grove", "find")
	link := spawnedEcho(s, "a 64-byte call on the child's link")
	var rg *group
	inRoot := entry{Contender: measure.Contender{Name: "Find in the root, which holds the registrar",
		Setup: func(ctx context.Context) (err error) {
			rg, err = spawnRegistered(ctx, 1)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for range n {
				if _, err := actor.Find(ctx, benchName); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return rg.Close() },
	}}
	gf, ff, pf, err := compare(ctx, s.rounds, find, link, inRoot)
	if err != nil {
		return nil, err
	}

	viaFind := echoEntry(s, "grove", func(ctx context.Context) (*actor.Ref, *group, error) {
		g, err := spawnRegistered(ctx, 1)
		if err != nil {
			return nil, nil, err
		}
		ref, err := actor.Find(ctx, benchName)
		if err != nil {
			return nil, nil, errors.Join(err, g.Close())
		}
		return ref, g, nil
	})
	viaSpawn := spawnedEcho(s, "the same call on the Ref from Spawn")
	sibling := siblingEntry(s, "a child's call on its sibling's Ref from Find", "call")
	gp, fp, pp, err := compare(ctx, s.rounds, viaFind, viaSpawn, sibling)
	if err != nil {
		return nil, err
	}
	return []report.Figure{
		report.NewFigure("9a", "Find, in a child", report.Nanoseconds, gf, ff, pf,
			"A child's Find of the name its sibling registered, the connection to it open: a lookup at the root's registrar, along the child's link."),
		report.NewFigure("9b", "peer call round trip, 64 B", report.Nanoseconds, gp, fp, pp,
			"A 64-byte echo from the root on its child's Ref from Find, over the child's peer socket; the target is at most 1.2× the floor."),
	}, nil
}

// spawnRegistered spawns k sibling actors, the first registered under
// benchName, exposing echo.
func spawnRegistered(ctx context.Context, k int) (*group, error) {
	g, err := spawnGroup(ctx, k)
	if err != nil {
		return nil, err
	}
	if _, err := registerEcho.Call(ctx, g.refs[0], benchName); err != nil {
		return nil, errors.Join(err, g.Close())
	}
	return g, nil
}

// echoEntry times 64-byte echo calls from the root on the Ref that open
// returns, with the group that holds its actor.
func echoEntry(s settings, name string, open func(ctx context.Context) (*actor.Ref, *group, error)) entry {
	payload := make([]byte, smallPayload)
	var ref *actor.Ref
	var g *group
	return entry{Contender: measure.Contender{Name: name,
		Setup: func(ctx context.Context) (err error) {
			ref, g, err = open(ctx)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for range n {
				if _, err := echo.Call(ctx, ref, payload); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return g.Close() },
	}}
}

// spawnedEcho times 64-byte echo calls from the root on a child's Ref
// from Spawn.
func spawnedEcho(s settings, name string) entry {
	return echoEntry(s, name, func(ctx context.Context) (*actor.Ref, *group, error) {
		g, err := spawnGroup(ctx, 1)
		if err != nil {
			return nil, nil, err
		}
		return g.refs[0], g, nil
	})
}

// siblingEntry times op (see repeatOp) repeated in the second of two
// sibling actors, the first registered; the root's call that asks for the
// repetitions is amortised over them.
func siblingEntry(s settings, name, op string) entry {
	var g *group
	return entry{Contender: measure.Contender{Name: name,
		Setup: func(ctx context.Context) (err error) {
			g, err = spawnRegistered(ctx, 2)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			_, err := inActor.Call(ctx, g.refs[1], repeatOp{Op: op, Name: benchName, N: n})
			return err
		}),
		Teardown: func() error { return g.Close() },
	}}
}
