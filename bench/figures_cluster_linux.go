//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

// figCluster: the figures across hosts, on a cluster of two routed
// servers on 127.0.0.1 (the client on one, the agents on the other): a
// remote call, spawn and stream beside the same on a local actor, and how
// long a host's crash and hang take to fail a call in flight.
func figCluster(ctx context.Context, s settings) (figs []report.Figure, err error) {
	// Host a serves the actors of 11a-c and watches membership; the crash
	// and hang samples each take a host of their own (k0, h0, ...), so
	// that none waits for a restarted host to be seen up again.
	hosts := []string{"a", natsHost}
	for i := range s.slow {
		hosts = append(hosts, fmt.Sprintf("k%d", i), fmt.Sprintf("h%d", i))
	}
	bc, err := startCluster(ctx, hosts)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, bc.Close()) }()
	if _, err := bc.agent(ctx, "a", true); err != nil {
		return nil, err
	}
	onA := actor.OnHost(bc.client.Host("a"))
	payload := make([]byte, smallPayload)

	remoteEcho := echoEntry(s, "grove, host a", func(ctx context.Context) (*actor.Ref, *group, error) {
		g, err := spawnGroup(ctx, 1, onA)
		if err != nil {
			return nil, nil, err
		}
		return g.refs[0], g, nil
	})
	localEcho := spawnedEcho(s, "the same call on a local actor")
	gc, fc, pc, err := compare(ctx, s.rounds, remoteEcho, localEcho, bc.natsEcho(s, payload))
	if err != nil {
		return nil, err
	}

	remoteSpawn := entry{Contender: measure.Contender{Name: "grove, host a", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		return spawnFirstCall(ctx, payload, onA)
	})}}
	localSpawn := entry{Contender: measure.Contender{Name: "local spawn to first call", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		return spawnFirstCall(ctx, payload)
	})}}
	gs, fs, ps, err := compare(ctx, s.slow, remoteSpawn, localSpawn)
	if err != nil {
		return nil, err
	}

	gt, ft, pt, err := compare(ctx, s.rounds, streamEntry(s, "grove, host a", onA), streamEntry(s, "local stream"))
	if err != nil {
		return nil, err
	}

	k, h := 0, 0
	crash := entry{Contender: measure.Contender{Name: "grove, agent SIGKILLed", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		k++
		return bc.lost(ctx, fmt.Sprintf("k%d", k-1), "", func(a *agentProc) { _ = a.cmd.Process.Signal(syscall.SIGKILL) })
	})}}
	localCrash := entry{Contender: measure.Contender{Name: "a local actor SIGKILLed: its ExitError", Sample: measure.Once(localCrashed)}}
	gk, fk, pk, err := compare(ctx, s.slow, crash, localCrash)
	if err != nil {
		return nil, err
	}

	hang := entry{Contender: measure.Contender{Name: "grove, agent SIGSTOPped", Sample: measure.Once(func(ctx context.Context) (time.Duration, error) {
		h++
		return bc.lost(ctx, fmt.Sprintf("h%d", h-1), "silent", func(a *agentProc) { a.signal(syscall.SIGSTOP) })
	})}}
	sums, err := measure.Interleave(ctx, s.slow, hang.Contender)
	if err != nil {
		return nil, err
	}
	gh := report.Result{Name: hang.Name, Summary: sums[0]}
	// T is the floor: the heartbeat's bound is ¾T to 1¼T + 50 ms.
	fh := report.Result{Name: fmt.Sprintf("T = %v (the bound: ¾T to 1¼T + 50 ms)", benchT), Summary: measure.Summarize([]float64{float64(benchT)})}

	return []report.Figure{
		report.NewFigure("11a", "remote call round trip, 64 B", report.Nanoseconds, gc, fc, pc,
			"A 64-byte echo on an actor of host a's agent, over natslink through two routed NATS servers on 127.0.0.1; the target is at most 4× the local call."),
		report.NewFigure("11b", "remote spawn to first call", report.Nanoseconds, gs, fs, ps,
			"From Spawn with OnHost(Host(\"a\")) until the first 64-byte echo returns; the target is the local figure + 2 ms."),
		report.NewFigure("11c", fmt.Sprintf("remote stream, %d-byte items", itemSize), report.ItemsPerSecond, gt, ft, pt,
			"Items per second from a StreamFunc on host a read off its channel; the target is at least 500 k items/s."),
		report.NewFigure("11d", "crash detection", report.Nanoseconds, gk, fk, pk,
			"From SIGKILL of an agent until a stream in flight on its actor fails with a HostLostError (host a's membership watcher, then a ping)."),
		report.NewFigure("11e", "hang detection", report.Nanoseconds, gh, fh, nil,
			fmt.Sprintf("From SIGSTOP of an agent and its actors until a stream in flight fails with a HostLostError (the link's heartbeat), with T = %v.", benchT)),
	}, nil
}

// natsHost is the host whose agent user answers the raw NATS requests of
// figure 11a's peer (no agent runs for it).
const natsHost = "nats"

// natsEcho is figure 11a's peer: a raw NATS request/reply of the same 64
// bytes from the client, through the same two servers, to a responder
// joined to the agents' server.
func (bc *benchCluster) natsEcho(s settings, payload []byte) entry {
	subj := "grove." + bc.servers.Name() + ".link." + natsHost + "." + embed.ClientUser + ".bench.up"
	var resp *cluster.Cluster
	return entry{Contender: measure.Contender{Name: "NATS request/reply, same servers",
		Setup: func(ctx context.Context) (err error) {
			if resp, err = bc.join(ctx, embed.AgentUser(natsHost), 1); err != nil {
				return err
			}
			if _, err = resp.Conn().Subscribe(subj, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err == nil {
				err = resp.Conn().Flush()
			}
			return err
		},
		Sample: measure.PerOp(s.target, func(ctx context.Context, n int) error {
			for range n {
				if _, err := bc.client.Conn().RequestWithContext(ctx, subj, payload); err != nil {
					return err
				}
			}
			return nil
		}),
		Teardown: func() error { return resp.Close() },
	}}
}

// lost starts an agent for host h, spawns an actor there, opens a hold
// stream on it and, once its first item is in, applies fault to the agent:
// it returns the time until the stream fails with a HostLostError whose
// Reason is reason (any, if reason is ""). The agent and its actors are killed before it returns.
func (bc *benchCluster) lost(ctx context.Context, h, reason string, fault func(*agentProc)) (time.Duration, error) {
	a, err := bc.agent(ctx, h, false)
	if err != nil {
		return 0, err
	}
	defer a.kill()
	var d time.Duration
	var streamErr error
	err = nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "bench-lost", actor.OnHost(bc.client.Host(h)))
		if err != nil {
			return err
		}
		d, streamErr = faultInFlight(ctx, ref, func() { fault(a) })
		return nil
	})
	var le *actor.HostLostError
	if !errors.As(streamErr, &le) || reason != "" && le.Reason != reason {
		return 0, fmt.Errorf("host %s: the stream in flight ended with %v, not a HostLostError %q (the nursery: %v)", h, streamErr, reason, err)
	}
	return d, nil
}

// localCrashed is figure 11d's floor: a local actor SIGKILLed with a hold
// stream in flight, until the stream fails with its ExitError.
func localCrashed(ctx context.Context) (time.Duration, error) {
	var d time.Duration
	var streamErr error
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "bench-crash")
		if err != nil {
			return err
		}
		d, streamErr = faultInFlight(ctx, ref, func() { _ = syscall.Kill(ref.PID(), syscall.SIGKILL) })
		return nil
	})
	var ee *actor.ExitError
	if !errors.As(streamErr, &ee) {
		return 0, fmt.Errorf("the stream in flight ended with %v, not an ExitError (the nursery: %v)", streamErr, err)
	}
	return d, nil
}

// faultInFlight opens a hold stream on ref and, once its first item is
// in, applies fault and times the stream until it ends; it returns that
// time and the stream's error (or why it could not be opened).
func faultInFlight(ctx context.Context, ref *actor.Ref, fault func()) (time.Duration, error) {
	st, err := hold.Open(ctx, ref, 0)
	if err != nil {
		return 0, err
	}
	if _, ok := <-st.C; !ok {
		return 0, fmt.Errorf("the hold stream ended before its first item: %w", st.Err())
	}
	start := time.Now()
	fault()
	for range st.C {
	}
	return time.Since(start), st.Err()
}
