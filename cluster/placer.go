package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/grove-rt/grove/actor"
)

// A Selector narrows the hosts a placer ([Cluster.Any], [Cluster.Spread])
// may choose: [Where].
type Selector struct {
	label, value string
}

// Where selects the hosts whose label has value (AgentConfig.Labels).
func Where(label, value string) Selector { return Selector{label: label, value: value} }

func (s Selector) String() string { return s.label + "=" + s.value }

func (s Selector) match(rec hostRecord) bool { return rec.Labels[s.label] == s.value }

// Host returns the placer that starts actors on host name, and only there:
// a spawn fails with an error matching actor.ErrHostUnavailable, at once,
// if no agent of that name is connected or it is known to be down, with
// actor.ErrBuildMismatch if it runs another build of this executable. It
// costs one request to the host's agent per spawn.
func (c *Cluster) Host(name string) actor.Placer { return &placer{c: c, host: name} }

// Any returns the placer that starts actors on the first host, in name
// order, that every selector matches and that runs this build (a spawn
// fails with actor.ErrBuildMismatch only if none does), trying the next
// one when a host is unavailable or has no room. Its first use waits for the cluster's
// survey of the hosts (a few milliseconds, at most 200 ms after Join).
func (c *Cluster) Any(sel ...Selector) actor.Placer { return &placer{c: c, sel: sel} }

// Spread is Any, trying first the hosts where the fewest actors run (as
// the hosts last reported, plus those this process placed there since).
func (c *Cluster) Spread(sel ...Selector) actor.Placer { return &placer{c: c, sel: sel, spread: true} }

// placer is the actor.Placer of Host, Any and Spread.
type placer struct {
	c      *Cluster
	host   string // pinned, for Host
	sel    []Selector
	spread bool
}

// Place implements actor.Placer.
func (p *placer) Place(ctx context.Context, spec actor.PlaceSpec) (actor.Remote, error) {
	if p.host != "" {
		return p.c.place(ctx, p.host, spec)
	}
	recs, mine := p.c.m.view(ctx)
	recs = slices.DeleteFunc(recs, func(rec hostRecord) bool {
		for _, s := range p.sel {
			if !s.match(rec) {
				return true
			}
		}
		return false
	})
	slices.SortFunc(recs, func(a, b hostRecord) int {
		if p.spread {
			if d := (a.Actors + mine[a.Host]) - (b.Actors + mine[b.Host]); d != 0 {
				return d
			}
		}
		return strings.Compare(a.Host, b.Host)
	})
	if len(recs) == 0 {
		return nil, fmt.Errorf("cluster: no host up matches %v: %w", p.sel, actor.ErrHostUnavailable)
	}
	// In a rolling deploy some hosts run another build: place on the
	// others, and say ErrBuildMismatch only if none runs this one.
	others := map[string]bool{}
	recs = slices.DeleteFunc(recs, func(rec hostRecord) bool {
		if rec.Build != spec.Build {
			others[rec.Build] = true
			return true
		}
		return false
	})
	if len(recs) == 0 {
		return nil, fmt.Errorf("cluster: no host up matching %v runs this build %q (they run %q): deploy it there: %w",
			p.sel, spec.Build, slices.Sorted(maps.Keys(others)), actor.ErrBuildMismatch)
	}
	var errs []error
	for _, rec := range recs {
		r, err := p.c.place(ctx, rec.Host, spec)
		if err == nil {
			return r, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, actor.ErrHostUnavailable) && !errors.Is(err, actor.ErrNoCapacity) || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
