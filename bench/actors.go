package main

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// group is a nursery holding k live actors, for figures that measure
// actors between their spawn and their teardown.
type group struct {
	refs []*actor.Ref
	n    *nursery.Nursery
	done chan error
}

// spawnGroup spawns k actors concurrently in a nursery of their own and
// returns once every one has completed its handshake.
func spawnGroup(ctx context.Context, k int, opts ...actor.Option) (*group, error) {
	g := &group{done: make(chan error, 1)}
	ready := make(chan error, 1)
	go func() {
		g.done <- nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			g.n = n
			refs, err := spawnAll(ctx, n, k, opts...)
			ready <- err
			if err != nil {
				return err
			}
			g.refs = refs
			<-ctx.Done()
			return nil
		})
	}()
	if err := <-ready; err != nil {
		<-g.done
		return nil, err
	}
	return g, nil
}

// spawnAll spawns k actors in n concurrently.
func spawnAll(ctx context.Context, n *nursery.Nursery, k int, opts ...actor.Option) ([]*actor.Ref, error) {
	refs := make([]*actor.Ref, k)
	eg, ectx := errgroup.WithContext(ctx)
	for i := range k {
		eg.Go(func() (err error) {
			refs[i], err = actor.Spawn(ectx, n, fmt.Sprintf("bench-%d", i), opts...)
			return err
		})
	}
	return refs, eg.Wait()
}

// Close cancels the group's nursery and waits until every actor has been
// reaped.
func (g *group) Close() error {
	g.n.Cancel(nil)
	return <-g.done
}
