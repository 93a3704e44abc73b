package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/peer"
	"github.com/grove-rt/grove/bench/internal/report"
)

// live is a set of live child processes of one kind, for the memory
// figure: their pids and how to end them.
type live struct {
	pids  []int
	close func() error
}

// memoryKind starts k live children of one kind.
type memoryKind struct {
	name  string
	start func(ctx context.Context, k int) (*live, error)
}

// figMemory: the parent's bytes per live actor, and an idle actor's RSS.
func figMemory(ctx context.Context, s settings) ([]report.Figure, error) {
	payload := make([]byte, smallPayload)
	kinds := []memoryKind{
		{"grove", func(ctx context.Context, k int) (*live, error) {
			g, err := spawnGroup(ctx, k)
			if err != nil {
				return nil, err
			}
			l := &live{close: g.Close}
			for _, ref := range g.refs {
				if _, err := echo.Call(ctx, ref, payload); err != nil {
					return nil, errors.Join(err, g.Close())
				}
				l.pids = append(l.pids, ref.PID())
			}
			return l, nil
		}},
		{"bare exec, idle on a socketpair", func(_ context.Context, k int) (*live, error) {
			var cs []*floor.Child
			l := &live{close: func() error { return closeAll(cs) }}
			for range k {
				c, err := floor.Start(floor.Idle, 0)
				if err == nil {
					cs = append(cs, c)
					err = c.Ready()
				}
				if err != nil {
					return nil, errors.Join(err, l.close())
				}
				l.pids = append(l.pids, c.PID())
			}
			return l, nil
		}},
		{"go-plugin (gRPC)", func(ctx context.Context, k int) (*live, error) {
			var ps []*peer.Plugin
			l := &live{close: func() error { return closeAll(ps) }}
			for range k {
				p, err := peer.StartPlugin(ctx)
				if err == nil {
					ps = append(ps, p)
					_, err = p.Echo(ctx, payload)
				}
				if err != nil {
					return nil, errors.Join(err, l.close())
				}
				l.pids = append(l.pids, p.PID())
			}
			return l, nil
		}},
	}
	parent := make([][]float64, len(kinds))
	rss := make([][]float64, len(kinds))
	rssAbsent := ""
	for r := range s.slow {
		for j := range kinds {
			i := (r + j) % len(kinds)
			bytes, sizes, err := measureLive(ctx, kinds[i], s.actors)
			if err != nil {
				return nil, fmt.Errorf("memory: %s: %w", kinds[i].name, err)
			}
			parent[i] = append(parent[i], bytes)
			if sizes == nil {
				rssAbsent = "no per-process RSS on this system"
				continue
			}
			rss[i] = append(rss[i], measure.Summarize(sizes).Median)
		}
	}
	results := func(samples [][]float64, absent string) []report.Result {
		out := make([]report.Result, len(kinds))
		for i, k := range kinds {
			out[i] = report.Result{Name: k.name, Summary: measure.Summarize(samples[i]), Absent: absent}
		}
		return out
	}
	p, r := results(parent, ""), results(rss, rssAbsent)
	return []report.Figure{
		report.NewFigure("8a", "parent memory per live actor", report.Bytes, p[0], p[1], p[2:],
			fmt.Sprintf("Growth of the parent's heap and stacks (after GC) with %d live idle children, per child.", s.actors)),
		report.NewFigure("8b", "RSS of an idle actor process", report.Bytes, r[0], r[1], r[2:],
			"VmRSS of a child after one call, median over the live children; all are this same binary."),
	}, nil
}

// measureLive starts k children of kind and returns the parent's memory
// growth per child and each child's RSS (nil where RSS cannot be read).
func measureLive(ctx context.Context, kind memoryKind, k int) (float64, []float64, error) {
	before := parentBytes()
	l, err := kind.start(ctx, k)
	if err != nil {
		return 0, nil, err
	}
	after := parentBytes()
	var sizes []float64
	for _, pid := range l.pids {
		b, err := measure.RSS(pid)
		if err != nil {
			sizes = nil
			break
		}
		sizes = append(sizes, float64(b))
	}
	if err := l.close(); err != nil {
		return 0, nil, err
	}
	return float64(after-before) / float64(k), sizes, nil
}

// parentBytes is this process's live heap and goroutine stacks after a
// collection.
func parentBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}

// closeAll closes every one of cs and joins their errors.
func closeAll[C interface{ Close() error }](cs []C) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
