package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/embed"
	"github.com/grove-rt/grove/cluster/internal/subject"
	"github.com/grove-rt/grove/cluster/natslink"
	"github.com/grove-rt/grove/nursery"
)

// DefaultOrphanGrace is AgentConfig.OrphanGrace when it is zero.
const DefaultOrphanGrace = time.Second

// MaxGrace and MaxKillDelay cap the ladder a caller asks for its actor
// (actor.WithGrace, WithKillDelay) when the agent stops: it waits at most
// MaxGrace for the actor's exit before SIGTERM, MaxKillDelay more before
// SIGKILL, so no caller holds an agent's shutdown longer.
const (
	MaxGrace     = 30 * time.Second
	MaxKillDelay = 10 * time.Second
)

// AgentConfig configures a host agent ([Serve]).
type AgentConfig struct {
	// Config says how the agent joins its cluster; its User is the
	// agent's ("agent-" and Host, the default when it is empty).
	Config
	// Host is this host's ID ([a-z0-9-], up to 63 characters), unique in
	// the cluster.
	Host string
	// Labels describe the host for placement ([Where]).
	Labels map[string]string
	// OrphanGrace is how long an actor whose parent's link ended without
	// a stop (silence for T, or a close) gets to exit on the EOF of its
	// own link before the agent kills it. DefaultOrphanGrace if zero.
	OrphanGrace time.Duration
	// MaxActors is the most actors the agent runs at once: beyond it a
	// spawn is refused with an error matching actor.ErrNoCapacity (and
	// Any and Spread try another host). 0 for no limit.
	MaxActors int
	// Allow, if set, is the spawn policy: the agent starts actor name for
	// caller (a user name, Config.User) only if it returns true, and
	// refuses others with an error matching actor.ErrNotAuthorized. nil
	// allows every caller every actor of this executable.
	Allow func(caller, name string) bool
	// AllowEnv are the environment variables a caller may set for its
	// actor (actor.WithEnv): any other, and any GROVE_ one, is refused
	// with actor.ErrNotAuthorized (LD_PRELOAD, GODEBUG and the like would
	// run what the caller likes). None if empty.
	AllowEnv []string
	// SysSeed, if set, is the nkey seed of the cluster's system-account
	// user (SysUser, "sys" if empty): the agent then watches the servers'
	// connection events and reports a host whose agent's connection
	// closed, once pings over 160 ms confirm it (the crash path).
	// Core hosts set it.
	SysSeed []byte
	SysUser string
	// Users are the public nkeys ("U…") of the cluster's users by name,
	// as embed.Deployment.Users (Core's when nil): the crash watcher takes
	// a DISCONNECT for host h's only if the connection authenticated with
	// the key of AgentUser(h). Without them it goes by the connection's
	// name, which any client chooses: a client could then have a host
	// that does not answer at once reported down.
	Users map[string]string
	// Core, if set, makes this host a core host (scaleout design §4.1):
	// Serve first starts the host's own NATS server with it
	// (embed.StartServer, Core.Host defaulting to Host and
	// Core.DeadInterval to Config's), the agent's connection goes to it
	// first (then Config.URLs, Core.URLs() if empty, in order), and the
	// server shuts down after the agent has left. A core host runs the
	// membership watcher: SysSeed is required. It also watches its
	// server's routes (every 20 ms: the server has no event for them) and
	// reports another core host whose route closed once pings over 160 ms
	// confirm it, since a core host's crash takes along its server and the
	// DISCONNECT event the server would have sent. Every core host is started
	// the same way from one embed.Deployment; a crashed one takes its
	// server along, whose clients reconnect to the others.
	Core *embed.ServerOptions
}

// Serve runs a host agent of the cluster in this process until ctx ends:
// it starts actors for callers on other hosts (re-executing this binary:
// call [actor.Main] first in main), relays their links, signals them on
// request, and kills an actor whose parent is gone within OrphanGrace of
// noticing. Every actor is a task of the agent's nursery; when ctx ends,
// each gets its ladder (its link closed, SIGTERM after its grace, SIGKILL
// after its kill delay) and Serve returns once all have been reaped and
// the agent's connection closed: nil after ctx's end, or the error that
// stopped it (a configuration mistake, a join that failed).
//
// With AgentConfig.Core set, Serve first starts this core host's NATS
// server (returning its error if it cannot listen) and shuts it down last.
//
// Actor processes get the agent's environment without its credentials:
// every variable whose value holds the agent's or the system user's seed,
// or a core host's route password, is left out. On Linux, Serve makes
// the process non-dumpable (prctl PR_SET_DUMPABLE 0), so that an actor of
// the same uid cannot read the agent's memory or /proc/<pid>/environ;
// root still can. Give the agent its seeds from a file it reads and
// removes, or a descriptor, never its environment (see [ReadSecret]).
func Serve(ctx context.Context, cfg AgentConfig) error {
	if err := undumpable(); err != nil {
		return fmt.Errorf("cluster: agent of %s: make the process non-dumpable (prctl PR_SET_DUMPABLE): %w", cfg.Host, err)
	}
	if err := subject.Check("cluster: AgentConfig.Host", cfg.Host, subject.MaxName); err != nil {
		return err
	}
	if cfg.User == "" {
		cfg.User = subject.Agent(cfg.Host)
	}
	if cfg.OrphanGrace == 0 {
		cfg.OrphanGrace = DefaultOrphanGrace
	}
	if cfg.OrphanGrace < 0 {
		return fmt.Errorf("cluster: AgentConfig.OrphanGrace is %v: set it to a positive duration, or 0 for %v", cfg.OrphanGrace, DefaultOrphanGrace)
	}
	if cfg.SysUser == "" {
		cfg.SysUser = embed.SysUser
	}
	if cfg.Users == nil && cfg.Core != nil {
		cfg.Users = cfg.Core.Users
	}
	var more []nats.Option
	var secret []byte // the route password, of a core host
	var own *server.Server
	if cfg.Core != nil {
		srv, err := startCore(ctx, &cfg)
		if err != nil {
			return err
		}
		defer srv.Shutdown() // after the agent's connections have closed
		own = srv.Server(0)
		more = append(more, nats.DontRandomize())
		secret = []byte(cfg.Core.RoutePassword)
	}
	// An agent reconnects sooner than a client, so that a reset agent is
	// heard again well within the watchers' confirmation window.
	more = append(more, nats.ReconnectWait(agentReconnectWait), nats.ReconnectJitter(agentReconnectJitter, agentReconnectJitter))
	c, err := join(ctx, cfg.Config, more...)
	if err != nil {
		return fmt.Errorf("cluster: agent of %s: %w", cfg.Host, err)
	}
	defer c.Close()
	var sys *Cluster
	if len(cfg.SysSeed) > 0 {
		scfg := c.cfg
		scfg.User, scfg.NKeySeed = cfg.SysUser, cfg.SysSeed
		if sys, err = join(ctx, scfg, more...); err != nil {
			return fmt.Errorf("cluster: agent of %s: the system user for membership: %w", cfg.Host, err)
		}
		defer sys.Close()
	}
	a := &agent{c: c, cfg: cfg, name: c.cfg.Name, incarnation: newLinkID()[:13],
		env: childEnv(os.Environ(), cfg.NKeySeed, cfg.SysSeed, secret), children: map[string]*child{},
		agentKeys: agentKeys(cfg.Users), server: own}
	err = nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error { return a.run(ctx, n, sys) })
	// Every actor has been reaped and its exit reported: the host is down.
	_ = c.nc.Publish(evHostDown(a.name, cfg.Host), encode(hostDown{Host: cfg.Host, Incarnation: a.incarnation, Reason: "agent stopped"}))
	_ = c.nc.FlushTimeout(downFlush)
	if ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, context.Cause(ctx))) {
		return nil // stopped as asked
	}
	return err
}

// ReadSecret reads a seed (or any secret) from the file at path and
// removes the file, so that no process started later, the agent's actors
// among them, finds it: a production agent's seeds come this way (a file
// its deployment writes with mode 0600, or /dev/fd/N for a descriptor its
// parent passed), not from its environment, which its actors could read
// before Serve made the process non-dumpable. Surrounding whitespace is
// trimmed. Removing /dev/fd/N fails harmlessly and is ignored.
func ReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: read the secret: %w", err)
	}
	if !strings.HasPrefix(path, "/dev/fd/") && !strings.HasPrefix(path, "/proc/self/fd/") {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cluster: remove the secret's file once read (it must not outlive its reading): %w", err)
		}
	}
	return bytes.TrimSpace(b), nil
}

// startCore starts the server of core host cfg.Host and points cfg's
// connection at it first.
func startCore(ctx context.Context, cfg *AgentConfig) (*embed.Servers, error) {
	if len(cfg.SysSeed) == 0 {
		return nil, fmt.Errorf("cluster: AgentConfig.Core is set for %s but SysSeed is not: a core host runs the membership watcher; set SysSeed to the seed of the system user (embed.SysUser)", cfg.Host)
	}
	so := *cfg.Core
	if so.Host == "" {
		so.Host = cfg.Host
	}
	if so.DeadInterval == 0 {
		so.DeadInterval = cfg.DeadInterval
	}
	if cfg.Name == "" {
		cfg.Name = so.Name
	}
	if cfg.Name != so.Name {
		return nil, fmt.Errorf("cluster: AgentConfig.Name %q is not the name of its Core's Deployment %q: leave it empty or make them match", cfg.Name, so.Name)
	}
	srv, err := embed.StartServer(ctx, so)
	if err != nil {
		return nil, fmt.Errorf("cluster: agent of %s: %w", cfg.Host, err)
	}
	urls := cfg.URLs
	if len(urls) == 0 {
		urls = so.URLs()
	}
	own := srv.URL(0)
	cfg.URLs = []string{own}
	for _, u := range urls {
		if u != own {
			cfg.URLs = append(cfg.URLs, u)
		}
	}
	return srv, nil
}

// An agent is Serve's state.
type agent struct {
	c           *Cluster
	cfg         AgentConfig
	name        string // the cluster name C
	incarnation string
	env         []string // the children's environment

	// agentKeys maps the public nkey of each agent user to its host, for
	// the crash watcher; nil if AgentConfig.Users is.
	agentKeys map[string]string

	// server is a core host's own server, whose routes it watches
	// (watchRoutes); nil for a member host.
	server *server.Server

	mu       sync.Mutex
	children map[string]*child // by caller "." link
}

// agentKeys is users' agents: host by public nkey.
func agentKeys(users map[string]string) map[string]string {
	if users == nil {
		return nil
	}
	keys := map[string]string{}
	for name, pub := range users {
		if h, ok := strings.CutPrefix(name, subject.Agent("")); ok {
			keys[pub] = h
		}
	}
	return keys
}

// flushTimeout bounds the agent's wait for its server to confirm its
// subscriptions.
const flushTimeout = 5 * time.Second

// downFlush bounds the wait for the server to take the agent's last
// announcement: a partitioned agent stops all the same.
const downFlush = 500 * time.Millisecond

// agentQueue bounds the requests waiting for the agent's loop; beyond it
// NATS drops them (a slow consumer) and their callers time out.
const agentQueue = 1024

// run subscribes to the host's requests and serves them on this goroutine
// until ctx ends, spawns on a task of n of their own; each actor started
// is a task of n.
func (a *agent) run(ctx context.Context, n *nursery.Nursery, sys *Cluster) error {
	nc := a.c.nc
	reqs := make(chan *nats.Msg, agentQueue)
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	for _, subj := range []string{subject.HostAll(a.name, a.cfg.Host), evSurvey(a.name)} {
		s, err := nc.ChanSubscribe(subj, reqs)
		if err != nil {
			return fmt.Errorf("cluster: agent of %s: subscribe to %s: %w", a.cfg.Host, subj, err)
		}
		subs = append(subs, s)
	}
	var events chan *nats.Msg
	if sys != nil {
		events = make(chan *nats.Msg, agentQueue)
		s, err := sys.nc.ChanSubscribe("$SYS.ACCOUNT.*.DISCONNECT", events)
		if err != nil {
			return fmt.Errorf("cluster: agent of %s: subscribe to the servers' DISCONNECT events: %w", a.cfg.Host, err)
		}
		subs = append(subs, s)
	}
	// Subscriptions reach the server before the announcement does.
	if err := nc.FlushTimeout(flushTimeout); err != nil && ctx.Err() == nil {
		return fmt.Errorf("cluster: agent of %s: flush: %w", a.cfg.Host, err)
	}
	if sys != nil {
		_ = sys.nc.FlushTimeout(flushTimeout)
	}
	announce := func() { _ = nc.Publish(evHostUp(a.name, a.cfg.Host), encode(a.record())) }
	announce()
	a.c.m.onReconnect(announce)
	defer a.c.m.onReconnect(nil)
	if a.server != nil && sys != nil {
		n.Go(func(ctx context.Context) error { return a.watchRoutes(ctx, n, announce) })
	}
	// Spawns, which fork and exec, have a loop of their own: a slow one
	// never delays a ping (the watchers' confirmation) or a signal.
	spawns := make(chan *nats.Msg, agentQueue)
	n.Go(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case m := <-spawns:
				a.serve(ctx, n, m)
			}
		}
	})
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-reqs:
			if !strings.HasSuffix(m.Subject, ".spawn") {
				a.serve(ctx, n, m)
				continue
			}
			select {
			case spawns <- m:
			default: // as NATS does beyond agentQueue: the caller times out
			}
		case m := <-events:
			a.disconnected(ctx, n, m)
		}
	}
}

// serve answers one request.
func (a *agent) serve(ctx context.Context, n *nursery.Nursery, m *nats.Msg) {
	op := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	switch op {
	case "spawn":
		_ = m.Respond(encode(a.spawn(ctx, n, m.Data, m.Reply)))
	case "ctl":
		_ = m.Respond(encode(a.ctl(m.Data, m.Reply)))
	case "ping":
		_ = m.Respond(encode(a.record()))
	case "survey": // announced again, on the events every client reads
		_ = a.c.nc.Publish(evHostUp(a.name, a.cfg.Host), encode(a.record()))
	}
}

func (a *agent) record() hostRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return hostRecord{Host: a.cfg.Host, Incarnation: a.incarnation, Labels: a.cfg.Labels, Build: actor.BuildID(),
		Actors: len(a.children), OrphanGrace: a.cfg.OrphanGrace}
}

// spawn starts the actor req asks for and its relay, a task of n.
func (a *agent) spawn(ctx context.Context, n *nursery.Nursery, data []byte, reply string) spawnReply {
	var req spawnRequest
	if err := decode("spawn request", data, &req); err != nil {
		return spawnReply{Err: refuse(kindBad, "%v", err)}
	}
	if e := a.checkCaller(req.Caller, reply); e != nil {
		return spawnReply{Err: e}
	}
	if ctx.Err() != nil {
		return spawnReply{Err: refuse(kindGone, "the agent of %s is stopping", a.cfg.Host)}
	}
	if build := actor.BuildID(); req.Build != build {
		return spawnReply{Err: refuse(kindBuild, "it runs build %q, the caller %q: deploy the caller's build on %s",
			build, req.Build, a.cfg.Host)}
	}
	a.mu.Lock()
	full := a.cfg.MaxActors > 0 && len(a.children) >= a.cfg.MaxActors
	a.mu.Unlock()
	if full {
		return spawnReply{Err: refuse(kindCapacity, "it runs %d actors, its AgentConfig.MaxActors", a.cfg.MaxActors)}
	}
	if req.Exe != "" {
		return spawnReply{Err: refuse(kindAuth, "the agent of %s runs only its own executable, not %q", a.cfg.Host, req.Exe)}
	}
	if err := subject.Check("link", req.Link, 26); err != nil {
		return spawnReply{Err: refuse(kindBad, "%v", err)}
	}
	if err := subject.Check("caller", req.Caller, subject.MaxUser); err != nil {
		return spawnReply{Err: refuse(kindBad, "%v", err)}
	}
	if a.cfg.Allow != nil && !a.cfg.Allow(req.Caller, req.Name) {
		return spawnReply{Err: refuse(kindAuth, "the agent of %s does not let %s spawn actor %q: allow it in AgentConfig.Allow (clustertest.AllowActors)",
			a.cfg.Host, req.Caller, req.Name)}
	}
	for _, kv := range req.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || strings.HasPrefix(k, "GROVE_") || !slices.Contains(a.cfg.AllowEnv, k) {
			return spawnReply{Err: refuse(kindAuth, "the agent of %s lets callers set only the variables of AgentConfig.AllowEnv %q, never GROVE_ ones, not %q: drop it or add its key there (clustertest.AllowEnv)",
				a.cfg.Host, a.cfg.AllowEnv, k)}
		}
	}
	// The caller's T, bounded by the agent's: a caller cannot lift the
	// orphan rule by claiming a T of years.
	dead := a.c.cfg.DeadInterval
	if req.Dead > 0 {
		dead = min(req.Dead, dead)
	}
	link, err := natslink.New(a.c.nc, natslink.Config{
		Send:         subject.Link(a.name, a.cfg.Host, req.Caller, req.Link, "dn"),
		Recv:         subject.Link(a.name, a.cfg.Host, req.Caller, req.Link, "up"),
		DeadInterval: dead,
	})
	if err != nil {
		return spawnReply{Err: refuse(kindStart, "%v", err)}
	}
	env := a.env
	if req.EnvOnly {
		env = nil
	}
	env = append(append([]string(nil), env...), req.Env...)
	opts := []actor.Option{
		actor.WithOutput(&logWriter{link: link, fd: 1}), actor.WithStderr(&logWriter{link: link, fd: 2}),
		actor.WithArgs(req.Args...), actor.WithEnvOnly(env...), actor.WithDir(req.Dir),
		actor.WithHost(a.cfg.Host), // the actor's identity, and so its errors, name this host
	}
	proc, err := actor.StartProcess(ctx, req.Name, req.ID, opts...)
	if err != nil {
		link.Abort() // the caller has no end yet: no fin, no wait for its ack
		return spawnReply{Err: refuse(kindStart, "%v", err)}
	}
	ch := &child{a: a, key: req.Caller + "." + req.Link, proc: proc, link: link,
		grace: min(req.Grace, MaxGrace), killDelay: min(req.KillDelay, MaxKillDelay)}
	a.mu.Lock()
	a.children[ch.key] = ch
	a.mu.Unlock()
	a.c.m.addLink(link)
	n.Go(ch.run)
	return spawnReply{PID: proc.PID(), Incarnation: a.incarnation, OrphanGrace: a.cfg.OrphanGrace}
}

// checkCaller refuses a request whose reply inbox is not the private inbox
// of the caller it names: the servers let each user subscribe to its own
// inbox prefix only, so a request naming another caller is a forgery.
func (a *agent) checkCaller(caller, reply string) *replyError {
	if caller == "" || !strings.HasPrefix(reply, subject.InboxPrefix(caller)+".") {
		return refuse(kindAuth, "the request names caller %q but its reply inbox is %q: a program asks for itself only, with the inbox prefix of its own user (cluster.Join sets it)", caller, reply)
	}
	return nil
}

// ctl signals the actor of a link.
func (a *agent) ctl(data []byte, reply string) ctlReply {
	var req ctlRequest
	if err := decode("ctl request", data, &req); err != nil {
		return ctlReply{Err: refuse(kindBad, "%v", err)}
	}
	if e := a.checkCaller(req.Caller, reply); e != nil {
		return ctlReply{Err: e}
	}
	a.mu.Lock()
	ch := a.children[req.Caller+"."+req.Link]
	a.mu.Unlock()
	if ch == nil {
		return ctlReply{Err: refuse(kindGone, "no actor of link %s runs on %s", req.Link, a.cfg.Host)}
	}
	sig := syscall.Signal(req.Signal)
	if sig != syscall.SIGTERM && sig != syscall.SIGKILL && sig != syscall.SIGINT {
		return ctlReply{Err: refuse(kindAuth, "the agent sends only SIGINT, SIGTERM and SIGKILL, not %v", sig)}
	}
	_ = ch.proc.Signal(sig) // an actor that has just exited gets nothing; its exit is on its way
	return ctlReply{}
}

// confirmRetry is the pause between the pings that confirm a host's loss
// while its agent has no subscription (no responders: it may be
// reconnecting).
const confirmRetry = 25 * time.Millisecond

// An agent's reconnection settings: quicker than a client's (reconnectWait),
// since the watchers wait for a reset agent to be heard again before they
// report a crash.
const (
	agentReconnectWait   = 20 * time.Millisecond
	agentReconnectJitter = 20 * time.Millisecond
)

// confirmWindow is how long the watcher pings a host whose agent's
// connection closed before it reports it down (scaleout design §5.7): four
// times an agent's longest reconnect wait (its wait plus jitter), 160 ms,
// so that an agent reconnecting after a reset, which answers nothing
// (no responders) while it waits, is heard again first, and a crash is
// still reported within the 250 ms bound.
func confirmWindow() time.Duration {
	return 4 * (agentReconnectWait + agentReconnectJitter)
}

// confirmLost pings host h until it answers, ctx ends or window has
// passed; it reports whether h stayed silent throughout.
func (a *agent) confirmLost(ctx context.Context, h string, window time.Duration) bool {
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	for {
		_, err := a.c.nc.RequestWithContext(wctx, subject.Host(a.name, h, "ping"), nil)
		if err == nil || ctx.Err() != nil {
			return false // it answers (it reconnected), or we are stopping
		}
		t := time.NewTimer(confirmRetry) // no responders yet: it may be reconnecting
		select {
		case <-wctx.Done():
			t.Stop()
			return ctx.Err() == nil
		case <-t.C:
		}
	}
}

// disconnected handles a $SYS DISCONNECT event: if the connection was a
// host agent's, a task pings that host over confirmWindow and, without an
// answer, reports it down to the cluster.
func (a *agent) disconnected(ctx context.Context, n *nursery.Nursery, m *nats.Msg) {
	var ev struct {
		Client struct {
			Name string `json:"name"`
			User string `json:"user"` // an nkey user's public key
		} `json:"client"`
		Reason string `json:"reason"`
	}
	if decode("DISCONNECT event", m.Data, &ev) != nil {
		return
	}
	h, ok := strings.CutPrefix(ev.Client.Name, "grove "+a.name+" "+subject.Agent(""))
	if a.agentKeys != nil {
		h, ok = a.agentKeys[ev.Client.User] // the key it authenticated with, not the name it chose
	}
	if !ok || h == a.cfg.Host || subject.Check("host", h, subject.MaxName) != nil {
		return
	}
	if ev.Reason == "Server Shutdown" {
		return // its server went away: the agent reconnects to another
	}
	a.reportIfLost(n, h, "agent's connection closed ("+ev.Reason+")")
}

// reportIfLost starts a task of n that pings host h over confirmWindow
// (confirmLost) and, if h stays silent, reports it down to the cluster
// (ev.hostdown.h) with the incarnation last heard of it and reason: the
// one way a watcher reports a crash, whatever made it suspect one.
func (a *agent) reportIfLost(n *nursery.Nursery, h, reason string) {
	n.Go(func(ctx context.Context) error {
		if !a.confirmLost(ctx, h, confirmWindow()) {
			return nil
		}
		// The incarnation this agent last heard of: a stale report never
		// downs a restarted agent.
		_ = a.c.nc.Publish(evHostDown(a.name, h), encode(hostDown{Host: h, Incarnation: a.c.m.incarnation(h), Reason: reason}))
		return nil
	})
}

// routePoll is how often a core agent looks at its server's routes.
const routePoll = 20 * time.Millisecond

// watchRoutes finds the crash of another core host, which takes its
// server along and with it the $SYS DISCONNECT of its agent's connection:
// the route from this host's server to that host's is what closes. It is
// the cluster's one poll, and why: nats-server reports no route's loss or
// return (no callback, no $SYS event), so every routePoll (20 ms, a
// Routez under the server's lock, a few microseconds) it lists the
// servers this one has a route to, and for a core host whose server is no
// longer among them it confirms and reports the host as disconnected does
// (reportIfLost): a crash is reported about routePoll + confirmWindow
// after it. The confirmation pings go through this server, so a route
// lost between two live servers alone (a partition between them) gets a
// live host reported down; every receiver pings it again itself, so only
// the clients of this server (which cannot reach it either) take the
// report, and they lose only links that had no path left. When a route
// appears (the mesh forming, a route's return), the agent announces
// itself again, so that the views that took such a report see it up
// again. It runs until ctx ends.
func (a *agent) watchRoutes(ctx context.Context, n *nursery.Nursery, announce func()) error {
	hosts := map[string]string{} // core host by server name
	for h := range a.cfg.Core.Core {
		hosts[embed.ServerName(a.name, h)] = h
	}
	routed := func() map[string]bool {
		rz, err := a.server.Routez(nil)
		if err != nil {
			return nil
		}
		on := map[string]bool{}
		for _, r := range rz.Routes {
			if h, ok := hosts[r.RemoteName]; ok && h != a.cfg.Host {
				on[h] = true
			}
		}
		return on
	}
	t := time.NewTicker(routePoll)
	defer t.Stop()
	was := routed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		is := routed()
		if is == nil {
			continue // no answer this time: judge nothing
		}
		for h := range was {
			if !is[h] {
				a.reportIfLost(n, h, "its server's route closed")
			}
		}
		for h := range is {
			if !was[h] {
				announce()
				break
			}
		}
		was = is
	}
}

// A child is an actor the agent runs for a remote parent.
type child struct {
	a                *agent
	key              string
	proc             *actor.Process
	link             *natslink.Link
	grace, killDelay time.Duration
}

// relayDrain bounds the wait, after the actor's exit, for the last bytes
// it wrote on its link.
const relayDrain = 500 * time.Millisecond

// run relays the actor's link to its parent's until the actor ends, then
// reports its exit and closes the parent's link. If the parent's link ends
// first (silence, or closed without a stop: the link's end, or the EOF of
// the copy into the actor) the actor is an orphan: its link is closed and
// it is killed after the orphan grace. If the agent
// stops (ctx), the actor gets its ladder.
func (ch *child) run(ctx context.Context) error {
	defer func() {
		ch.a.mu.Lock()
		delete(ch.a.children, ch.key)
		ch.a.mu.Unlock()
		ch.a.c.m.removeLink(ch.link)
	}()
	own := ch.proc.Link()
	parentGone := make(chan struct{})
	childEOF := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // parent → actor
		defer wg.Done()
		_, _ = io.Copy(own, ch.link)
		close(parentGone)
	}()
	go func() { // actor → parent
		defer wg.Done()
		_, _ = io.Copy(ch.link, own)
		close(childEOF)
	}()
	select {
	case <-ch.proc.Done():
	case <-parentGone:
		own.Close() // EOF: the actor cancels its tree and exits
		ch.killAfter(ch.a.cfg.OrphanGrace, syscall.SIGKILL)
	case <-ch.link.Done():
		// The parent's link ended while the copy into the actor may be
		// stuck in its Write (an actor not reading): the end is news
		// enough. Closing the socket unblocks that copy.
		own.Close()
		ch.killAfter(ch.a.cfg.OrphanGrace, syscall.SIGKILL)
	case <-ctx.Done():
		own.Close()
		if !ch.killAfter(ch.grace, syscall.SIGTERM) {
			ch.killAfter(ch.killDelay, syscall.SIGKILL)
		}
	}
	err := ch.proc.Wait()
	t := time.NewTimer(relayDrain)
	select {
	case <-childEOF:
	case <-t.C:
	}
	t.Stop()
	own.Close()
	var x natslink.Exit
	var ee *actor.ExitError
	if errors.As(err, &ee) {
		x = natslink.Exit{Code: ee.Code, Signal: int(ee.Signal), Stderr: ee.Stderr}
	}
	_ = ch.link.SendExit(x)
	ch.link.Close() // fin; the parent's side ends the up copy
	wg.Wait()
	return nil
}

// killAfter waits d for the actor's exit, then sends it sig; it reports
// whether the actor exited within d.
func (ch *child) killAfter(d time.Duration, sig syscall.Signal) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch.proc.Done():
		return true
	case <-t.C:
		_ = ch.proc.Signal(sig)
		if sig == syscall.SIGKILL {
			<-ch.proc.Done()
		}
		return false
	}
}

// A logWriter sends an actor's output, which StartProcess writes line by
// line, to its parent as natslink Log messages.
type logWriter struct {
	link *natslink.Link
	fd   int
}

func (w *logWriter) Write(p []byte) (int, error) {
	lines := strings.Split(strings.TrimSuffix(string(p), "\n"), "\n")
	_ = w.link.SendLog(natslink.Log{FD: w.fd, Lines: lines}) // a parent gone loses the output, not the actor
	return len(p), nil
}

// childEnv is env without the variables whose value holds one of the
// secrets: an actor holds no credentials (scaleout design §4.1).
func childEnv(env []string, secrets ...[]byte) []string {
	var out []string
next:
	for _, kv := range env {
		_, v, _ := strings.Cut(kv, "=")
		for _, s := range secrets {
			if len(s) > 0 && bytes.Contains([]byte(v), bytes.TrimSpace(s)) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
