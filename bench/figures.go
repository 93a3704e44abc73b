package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/peer"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/nursery"
)

// smallPayload is the payload of the small-call figures.
const smallPayload = 64

// A figureFunc measures one or more figures.
type figureFunc func(ctx context.Context, s settings) ([]report.Figure, error)

// figures lists every figure in the order it is printed.
var figures = []struct {
	id string
	fn figureFunc
}{
	{"1", figSpawn},
	{"2", figCall},
	{"3", figStream},
	{"4a", figSubmit},
	{"4b", figMap},
	{"4c", figPoolStart},
	{"4d", figPoolCrash},
	{"5", figCancel},
	{"6", figNursery},
	{"7", figBridge},
	{"8", figMemory},
	{"9", figNames},
	{"10", figRestart},
	{"11", figCluster},
}

// figSpawn: spawn to the first completed call.
func figSpawn(ctx context.Context, s settings) ([]report.Figure, error) {
	payload := make([]byte, smallPayload)
	grove := entry{Contender: measure.Contender{Name: "grove", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		return spawnFirstCall(ctx, payload)
	})}}
	bare := entry{Contender: measure.Contender{Name: "bare exec, one byte on a socketpair", Sample: measure.Once(func(context.Context) (time.Duration, error) {
		return floor.SpawnOnce()
	})}}
	plugin := entry{Contender: measure.Contender{Name: "go-plugin (gRPC)", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		p, err := peer.StartPlugin(ctx)
		if err != nil {
			return 0, err
		}
		_, err = p.Echo(ctx, payload)
		d := time.Since(start)
		return d, errors.Join(err, p.Close())
	})}}
	g, f, peers, err := compare(ctx, s.rounds, grove, bare, plugin)
	if err != nil {
		return nil, err
	}
	return []report.Figure{report.NewFigure("1", "spawn to first call", report.Nanoseconds, g, f, peers,
		"From exec until the first call's reply is read (a 64-byte echo); teardown outside the timed part.")}, nil
}

// spawnFirstCall times a spawn with opts until its first call, an echo of
// payload, has returned; the teardown is outside the time.
func spawnFirstCall(ctx context.Context, payload []byte, opts ...actor.Option) (time.Duration, error) {
	var d time.Duration
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		start := time.Now()
		ref, err := actor.Spawn(ctx, n, "bench", opts...)
		if err != nil {
			return err
		}
		if _, err := echo.Call(ctx, ref, payload); err != nil {
			return err
		}
		d = time.Since(start)
		n.Cancel(nil)
		return nil
	})
	return d, err
}

// figCall: the round trip of a small call, and of the peers' calls.
func figCall(ctx context.Context, s settings) ([]report.Figure, error) {
	payload := make([]byte, smallPayload)
	grove := spawnedEcho(s, "grove")
	bare := pingPongEntry(s, smallPayload)
	var rpc *peer.NetRPC
	netRPC := entry{Contender: measure.Contender{Name: "net/rpc (gob) on a socketpair",
		Setup: func(context.Context) (err error) {
			rpc, err = peer.StartNetRPC()
			return err
		},
		Sample: measure.PerOp(s.target, func(_ context.Context, n int) error {
			for range n {
				if _, err := rpc.Echo(payload); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return rpc.Close() },
	}}
	var plug *peer.Plugin
	plugin := entry{Contender: measure.Contender{Name: "go-plugin (gRPC)",
		Setup: func(ctx context.Context) (err error) {
			plug, err = peer.StartPlugin(ctx)
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for range n {
				if _, err := plug.Echo(ctx, payload); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return plug.Close() },
	}}
	gr, f, peers, err := compare(ctx, s.rounds, grove, bare, netRPC, plugin)
	if err != nil {
		return nil, err
	}
	return []report.Figure{report.NewFigure("2", "call round trip, 64 B", report.Nanoseconds, gr, f, peers,
		"One call at a time to a live child process, echoing 64 bytes.")}, nil
}

// pingPongEntry is the round-trip floor: a bare child echoing messages of
// size bytes on a socketpair.
func pingPongEntry(s settings, size int) entry {
	var c *floor.Child
	buf := make([]byte, size)
	return entry{Contender: measure.Contender{Name: "bare socketpair ping-pong",
		Setup: func(context.Context) (err error) {
			c, err = floor.Start(floor.PingPong, size)
			return err
		},
		Sample:   measure.PerOp(s.target, func(_ context.Context, n int) error { return c.PingPong(buf, n) }),
		Teardown: func() error { return c.Close() },
	}}
}

// figStream: small items per second streamed from an actor.
func figStream(ctx context.Context, s settings) ([]report.Figure, error) {
	grove := streamEntry(s, "grove")
	var c *floor.Child
	var r *bufio.Reader
	bare := entry{Contender: measure.Contender{Name: fmt.Sprintf("bare socketpair, %d-byte items, buffered", itemSize),
		Setup: func(context.Context) (err error) {
			c, err = floor.Start(floor.Stream, itemSize)
			if err == nil {
				r = bufio.NewReaderSize(c.Conn, 64<<10)
			}
			return err
		},
		Sample:   measure.Rate(s.target, func(_ context.Context, n int) error { return c.Stream(r, n) }),
		Teardown: func() error { return c.Close() },
	}}
	gr, f, peers, err := compare(ctx, s.rounds, grove, bare)
	if err != nil {
		return nil, err
	}
	return []report.Figure{report.NewFigure("3", fmt.Sprintf("stream, %d-byte items", itemSize), report.ItemsPerSecond, gr, f, peers,
		"Items per second from a StreamFunc read off its channel; the floor moves the same bytes through a 64 KiB buffer.")}, nil
}

// streamEntry times a stream of itemSize-byte items from an actor spawned
// with opts, in items per second.
func streamEntry(s settings, name string, opts ...actor.Option) entry {
	var g *group
	return entry{Contender: measure.Contender{Name: name,
		Setup: func(ctx context.Context) (err error) {
			g, err = spawnGroup(ctx, 1, opts...)
			return err
		},
		Sample: measure.Rate(s.target, func(ctx context.Context, n int) error {
			st, err := items.Open(ctx, g.refs[0], n)
			if err != nil {
				return err
			}
			got := 0
			for range st.C {
				got++
			}
			if err := st.Err(); err != nil {
				return err
			}
			if got != n {
				return fmt.Errorf("stream: %d items of %d", got, n)
			}
			return nil
		}),
		Teardown: func() error { return g.Close() },
	}}
}

// pythonVersion returns python3's version line, or "" if it is absent.
func pythonVersion() string {
	out, err := exec.Command("python3", "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// errAbsent turns a peer's start-up failure into the reason it is absent.
func errAbsent(err error) string {
	switch {
	case errors.Is(err, peer.ErrNoPython):
		return "python3 not on PATH"
	case errors.Is(err, peer.ErrNoLoky):
		return "no loky (apt install python3-joblib, or pip install loky)"
	}
	return err.Error()
}
