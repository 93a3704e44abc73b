// Command cluster is grove's demo of actors across hosts, played on this
// one machine: an embedded NATS server, three host agents as separate
// processes, and a tree of actors spread over them as tasks of this
// program's nursery. Then one host crashes, and the tree reacts as a tree
// of local actors does to a crash.
//
// The scenes:
//
//   - [embed.Start] starts a NATS server on 127.0.0.1 with nkey users
//     generated at start (the client, the system user, an agent user per
//     host) and subject permissions per user: nothing is anonymous.
//   - Three host agents, h1, h2 and h3, start: each is this same binary
//     re-executed, running [cluster.Serve] with its own agent's
//     credentials (and the system user's, to watch membership). This
//     program joins as the client ([cluster.Join]) and waits until each
//     has announced itself.
//   - A tree: one actor per host ([actor.OnHost] with [cluster.Cluster.Host]),
//     each a task of one nursery. Each streams a few squares back, and says
//     which host's agent started it and that it holds no credentials (the
//     agent reads its seeds from files it removes, never from its
//     environment).
//   - A crash: while every actor streams, h3's agent is SIGKILLed (its
//     actor dies with it, by its death signal). Another agent's membership
//     watcher sees the agent's connection close and reports h3 down; h3's
//     stream fails with an [*actor.HostLostError], within the 250 ms bound
//     of crash detection; the nursery cancels the siblings on h1 and h2 and
//     returns the HostLostError, whose DeadBy bounds when h3's actor is
//     certainly dead.
//   - Nothing is left: h3's actor is gone, the agents of h1 and h2 stop on
//     SIGTERM, the server shuts down, and /proc holds no process of this
//     cluster.
//
// What is printed does not depend on pids, ids or timing: the detection
// time is printed as within its bound, or as over it.
//
// The agents run on Linux first (an agent's actors die with it by their
// death signal); elsewhere the demo runs but does not look through /proc.
//
//	go run ./examples/cluster
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/nursery"
)

func main() {
	actor.Main() // first: run as an actor, this binary serves its parent here and never returns
	agentMain()  // then: run as a host agent if started as one, and exit

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// The demo's cluster: its hosts, the one that crashes, and its dead
// interval T (a link silent for T is dead; the servers ping every T/2).
var hosts = []string{"h1", "h2", "h3"}

const (
	crashed      = "h3"
	deadInterval = time.Second
	// crashBound is the stated bound of crash detection (DESIGN.md,
	// "Membership and failure detection"): an agent's SIGKILL to the
	// HostLostError of the calls to its actors.
	crashBound = 250 * time.Millisecond
)

// The environment of an agent process: how it joins the cluster. The
// seeds travel in 0600 files the agent reads and removes
// (cluster.ReadSecret), never in an environment its actors could read
// from /proc; the public keys let its membership watcher tell agents'
// connections by the key they authenticated with. envRun marks
// every process of one run, actors included, for the final look at /proc.
const (
	envRun     = "GROVE_EXAMPLE_CLUSTER_RUN"
	envHost    = "GROVE_EXAMPLE_CLUSTER_HOST"
	envURL     = "GROVE_EXAMPLE_CLUSTER_URL"
	envSeed    = "GROVE_EXAMPLE_CLUSTER_SEED_FILE"     // a file the agent reads and removes
	envSysSeed = "GROVE_EXAMPLE_CLUSTER_SYS_SEED_FILE" // likewise
	envKeys    = "GROVE_EXAMPLE_CLUSTER_AGENT_KEYS"    // user=public key, comma-separated: whose DISCONNECT is whose
)

// agentMain runs this process as the host agent of $GROVE_EXAMPLE_CLUSTER_HOST
// if it was started as one, until SIGTERM or SIGINT, then exits; otherwise
// it returns at once.
func agentMain() {
	host := os.Getenv(envHost)
	if host == "" {
		return
	}
	// The seeds come in files the agent removes once read, never in its
	// environment, which its actors could read.
	seed, err := cluster.ReadSecret(os.Getenv(envSeed))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: the agent of %s: %v\n", host, err)
		os.Exit(1)
	}
	sysSeed, err := cluster.ReadSecret(os.Getenv(envSysSeed))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: the agent of %s: %v\n", host, err)
		os.Exit(1)
	}
	users := map[string]string{}
	for _, kv := range strings.Split(os.Getenv(envKeys), ",") {
		if user, key, ok := strings.Cut(kv, "="); ok {
			users[user] = key
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err = cluster.Serve(ctx, cluster.AgentConfig{
		Config: cluster.Config{
			User:         embed.AgentUser(host),
			URLs:         []string{os.Getenv(envURL)},
			NKeySeed:     seed,
			DeadInterval: deadInterval,
		},
		Host:    host,
		SysSeed: sysSeed,
		Users:   users,
	})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: the agent of %s: %v\n", host, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// noSeedFile reports whether the seed file named by the variable env is
// gone (its agent read and removed it) or was never given.
func noSeedFile(env string) bool {
	path := os.Getenv(env)
	if path == "" {
		return true
	}
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}

// The functions the actors run, package-level variables so that this
// program and every actor (the same binary) register the same names.
var (
	// squares streams the squares of 1..n, after a Where that says where
	// it runs.
	squares = actor.StreamFunc("cluster.squares", func(ctx context.Context, n int, out chan<- Item) error {
		where := Item{Host: os.Getenv(envHost), NoCredentials: noSeedFile(envSeed) && noSeedFile(envSysSeed)}
		select {
		case out <- where:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i := 1; i <= n; i++ {
			select {
			case out <- Item{Square: i * i}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	// ticks streams a tick every 10 ms until it is cancelled.
	ticks = actor.StreamFunc("cluster.ticks", func(ctx context.Context, _ struct{}, out chan<- int) error {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case out <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
)

// An Item is one of squares' items: its first says where the actor runs
// (the host whose agent started it, which it inherits in its environment)
// and whether it holds credentials; the others are squares.
type Item struct {
	Host          string
	NoCredentials bool
	Square        int
}

// run plays the demo on w and returns the first unexpected error. Every
// process it starts is gone when it returns.
func run(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "== an embedded NATS server, with generated nkey users and subject permissions")
	servers, err := embed.Start(ctx, embed.Options{Servers: 1, Hosts: hosts, DeadInterval: deadInterval})
	if err != nil {
		return err
	}
	defer servers.Shutdown()
	client, err := servers.User(embed.ClientUser)
	if err != nil {
		return err
	}
	c, err := cluster.Join(ctx, cluster.Config{User: client.Name, URLs: servers.URLs(), NKeySeed: client.Seed, DeadInterval: deadInterval})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(w, "this program joined as the user %q; the servers hold only public keys\n", client.Name)

	fmt.Fprintln(w, "== three host agents, each a process of its own (this binary, re-executed)")
	ag, err := startAgents(ctx, servers, c)
	if err != nil {
		return err
	}
	defer ag.stopAll()
	for _, h := range hosts {
		fmt.Fprintf(w, "agent %s is up\n", h)
	}

	if err := spreadTree(ctx, w, c); err != nil {
		return err
	}
	if err := crash(ctx, w, c, ag); err != nil {
		return err
	}

	fmt.Fprintln(w, "== nothing is left")
	if err := ag.stopAll(); err != nil {
		return err
	}
	fmt.Fprintf(w, "the agents of %s stopped on SIGTERM\n", strings.Join(hosts[:len(hosts)-1], " and "))
	c.Close()
	servers.Shutdown()
	fmt.Fprintln(w, "the server shut down")
	switch left, checked := processesLeft(ag.run, 2*time.Second); {
	case !checked:
		fmt.Fprintln(w, "no /proc here: the processes left were not looked for")
	case len(left) > 0:
		return fmt.Errorf("%d processes of the cluster are left: %v", len(left), left)
	default:
		fmt.Fprintln(w, "no process of the cluster is left (looked for in /proc)")
	}
	return nil
}

// spreadTree runs one actor on each host, as tasks of one nursery, and
// prints what each streams back.
func spreadTree(ctx context.Context, w io.Writer, c *cluster.Cluster) error {
	fmt.Fprintln(w, "== a tree across the hosts: one actor on each, tasks of one nursery, streaming back")
	results := make([][]Item, len(hosts))
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		for i, h := range hosts {
			ref, err := actor.Spawn(ctx, n, "squares-"+h, actor.OnHost(c.Host(h)))
			if err != nil {
				return err
			}
			n.Go(func(ctx context.Context) error {
				s, err := squares.Open(ctx, ref, 4)
				if err != nil {
					return err
				}
				for item := range s.C {
					results[i] = append(results[i], item)
				}
				if err := s.Err(); err != nil {
					return err
				}
				ref.Cancel() // its job is done: stop the actor
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, h := range hosts {
		items := results[i]
		if len(items) == 0 {
			return fmt.Errorf("the actor on %s streamed nothing", h)
		}
		var sq []string
		for _, it := range items[1:] {
			sq = append(sq, fmt.Sprint(it.Square))
		}
		creds := "holds credentials"
		if items[0].NoCredentials {
			creds = "holds no credentials"
		}
		fmt.Fprintf(w, "%s: started by the agent of %s, %s; streamed %s\n", actorOn(h), items[0].Host, creds, strings.Join(sq, " "))
	}
	fmt.Fprintln(w, "every actor was stopped and reaped by its agent; the nursery returned")
	return nil
}

// actorOn names the actor on host h in what the demo prints.
func actorOn(h string) string { return "the actor on " + h }

// crash has an actor on every host streaming ticks, kills the agent of
// host crashed, and prints how the tree reacts.
func crash(ctx context.Context, w io.Writer, c *cluster.Cluster, ag *agents) error {
	fmt.Fprintf(w, "== host %s crashes (its agent is SIGKILLed) while an actor streams on every host\n", crashed)
	ends := make([]error, len(hosts))
	var lostAt time.Time
	var killed time.Time
	streaming := make(chan struct{}, len(hosts)) // one per stream that has begun
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		for i, h := range hosts {
			ref, err := actor.Spawn(ctx, n, "ticks-"+h, actor.OnHost(c.Host(h)))
			if err != nil {
				return err
			}
			n.Go(func(ctx context.Context) error {
				s, err := ticks.Open(ctx, ref, struct{}{})
				if err != nil {
					return err
				}
				first := true
				for range s.C {
					if first {
						first = false
						streaming <- struct{}{}
					}
				}
				ends[i] = s.Err()
				if h == crashed {
					lostAt = time.Now()
				}
				return ends[i]
			})
		}
		for range hosts {
			select {
			case <-streaming:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		killed = time.Now()
		return ag.kill(crashed)
	})

	var lost *actor.HostLostError
	if !errors.As(err, &lost) {
		return fmt.Errorf("the tree should fail with a *actor.HostLostError, got %v", err)
	}
	how := "the membership watcher: " + lost.Reason
	if lost.Host != crashed {
		return fmt.Errorf("the tree failed for the loss of host %s, not %s: %v", lost.Host, crashed, err)
	}
	fmt.Fprintf(w, "%s: its stream failed with *actor.HostLostError, host %s, reported by %s\n", actorOn(crashed), lost.Host, trimReason(how))
	if d := lostAt.Sub(killed); d <= crashBound {
		fmt.Fprintln(w, "detected within the 250 ms bound of crash detection")
	} else {
		fmt.Fprintf(w, "detected in %v, over the 250 ms bound of crash detection (a loaded machine?)\n", d.Round(time.Millisecond))
	}
	for i, h := range hosts {
		if h == crashed {
			continue
		}
		if !errors.Is(ends[i], context.Canceled) {
			return fmt.Errorf("the stream of the actor on %s should end cancelled, got %v", h, ends[i])
		}
		fmt.Fprintf(w, "%s: its stream was cancelled, as a sibling of the failed task\n", actorOn(h))
	}
	fmt.Fprintln(w, "the nursery returned the HostLostError; its DeadBy bounds when the actor on "+crashed+" is certainly dead (its agent's kill deadline: here its death signal came first)")
	return nil
}

// trimReason leaves out the closing reason NATS gives ("Client Closed",
// "Read Error"), which depends on how the kernel closed the socket.
func trimReason(s string) string {
	if i := strings.Index(s, " ("); i >= 0 {
		return s[:i]
	}
	return s
}

// agents are the agent processes of a run.
type agents struct {
	run   string // the value of envRun in every process of this run
	procs map[string]*agentProc
}

type agentProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
	err  error
}

// agentStop bounds an agent's orderly stop (its actors' ladders included)
// before it is killed.
const agentStop = 5 * time.Second

// startAgents starts an agent process per host and returns once each has
// announced itself (ev.hostup), or ctx ends, or one exits first (then the
// others are killed).
func startAgents(ctx context.Context, servers *embed.Servers, c *cluster.Cluster) (*agents, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	sys, err := servers.User(embed.SysUser)
	if err != nil {
		return nil, err
	}
	ag := &agents{run: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()), procs: map[string]*agentProc{}}
	// Agents announce themselves again when others join (a survey): the
	// handler records who has, and must never block.
	var mu sync.Mutex
	announced := map[string]bool{}
	up := make(chan struct{}, 1)
	sub, err := c.Conn().Subscribe("grove."+servers.Name()+".ev.hostup.*", func(m *nats.Msg) {
		mu.Lock()
		announced[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]] = true
		mu.Unlock()
		select {
		case up <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := c.Conn().Flush(); err != nil {
		return nil, err
	}
	exited := make(chan string, len(hosts))
	var keys []string
	for _, h := range hosts {
		u, err := servers.User(embed.AgentUser(h))
		if err != nil {
			return nil, err
		}
		keys = append(keys, u.Name+"="+u.PublicKey)
	}
	dir, err := os.MkdirTemp("", "grove-example-cluster-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // what an agent did not read (it failed to start)
	for _, h := range hosts {
		u, err := servers.User(embed.AgentUser(h))
		if err != nil {
			ag.killAll()
			return nil, err
		}
		seedFile, sysFile := filepath.Join(dir, h+".seed"), filepath.Join(dir, h+".sys.seed")
		if err := errors.Join(os.WriteFile(seedFile, u.Seed, 0o600), os.WriteFile(sysFile, sys.Seed, 0o600)); err != nil {
			ag.killAll()
			return nil, err
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), envRun+"="+ag.run, envHost+"="+h, envURL+"="+servers.URL(0),
			envSeed+"="+seedFile, envSysSeed+"="+sysFile, envKeys+"="+strings.Join(keys, ","))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.SysProcAttr = sysProcAttr()
		if err := cmd.Start(); err != nil {
			ag.killAll()
			return nil, fmt.Errorf("start the agent of %s: %w", h, err)
		}
		p := &agentProc{cmd: cmd, done: make(chan struct{})}
		go func() { p.err = cmd.Wait(); close(p.done); exited <- h }()
		ag.procs[h] = p
	}
	for {
		mu.Lock()
		all := true
		for _, h := range hosts {
			all = all && announced[h]
		}
		mu.Unlock()
		if all {
			return ag, nil
		}
		select {
		case <-up:
		case h := <-exited:
			ag.killAll()
			return nil, fmt.Errorf("the agent of %s exited before it announced itself: %v", h, ag.procs[h].err)
		case <-ctx.Done():
			ag.killAll()
			return nil, ctx.Err()
		}
	}
}

// kill SIGKILLs the agent of host h and waits for it: a crash.
func (ag *agents) kill(h string) error {
	p := ag.procs[h]
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	<-p.done
	return nil
}

// killAll SIGKILLs every agent and waits for each.
func (ag *agents) killAll() {
	for _, p := range ag.procs {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every running agent with SIGTERM (its actors get their
// ladders), kills one that has not exited within agentStop, and returns an
// error if one had to be killed or failed. Stopped agents are skipped, so
// it may be called more than once.
func (ag *agents) stopAll() error {
	for _, p := range ag.procs {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	for h, p := range ag.procs {
		timer := time.NewTimer(agentStop)
		select {
		case <-p.done:
			var exit *exec.ExitError
			if p.err != nil && !(h == crashed && errors.As(p.err, &exit)) {
				errs = append(errs, fmt.Errorf("the agent of %s: %w", h, p.err))
			}
		case <-timer.C:
			_ = p.cmd.Process.Kill()
			<-p.done
			errs = append(errs, fmt.Errorf("the agent of %s did not stop within %v of SIGTERM: killed", h, agentStop))
		}
		timer.Stop()
	}
	return errors.Join(errs...)
}
