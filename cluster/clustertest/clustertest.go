// Package clustertest starts a whole grove cluster inside a test: embedded
// NATS servers on 127.0.0.1 with generated credentials and the
// permissions of production, a fault proxy in front of each host's server
// to partition or reset it, joined clients, and at the end a check that
// no process of the cluster is left.
//
//	tc := clustertest.Start(t, clustertest.Servers(3))
//	c := tc.Client(t) // a cluster.Join as a root program's user of its own
//	tc.Partition("a") // the agent of host a is cut off, sockets open
//	tc.Heal("a")
//
// tc.Agent(t, "a") starts host a's agent as a separate process (the test
// binary re-executed: its TestMain calls AgentMain after actor.Main), with
// Cluster.AgentEnv in its environment: the cluster's ID, the files of its
// credentials (removed once read) and the URL of its host's fault proxy. tc.Kill, tc.Stop and tc.Cont
// crash it or hang it with its actors.
//
// With Core, each host's agent is a core host (cluster.AgentConfig.Core)
// that embeds its own server, and the test process runs none:
//
//	tc := clustertest.Start(t, clustertest.Core())
//	for _, h := range tc.Hosts() {
//		tc.Agent(t, h)
//	}
//	c := tc.Client(t)
//	tc.Kill("a") // host a's agent crashes, its server with it
package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/embed"
)

// DefaultDeadInterval is the tests' T: a dead peer is found in about half
// a second, short enough for fault tests and long enough for two busy
// cores.
const DefaultDeadInterval = 400 * time.Millisecond

// startTimeout bounds Start and every Join of the harness.
const startTimeout = 10 * time.Second

// sweepGrace is how long the cleanup lets the cluster's processes take to
// exit before it kills them and fails the test.
const sweepGrace = 2 * time.Second

// An Option configures Start.
type Option func(*options)

type options struct {
	servers int
	dead    time.Duration
	hosts   []string
	core    bool
	clients int
}

// DefaultClients is the number of root-program users Start generates when
// no Clients option is given.
const DefaultClients = 8

// Clients sets the number of root programs that may join (DefaultClients
// by default): each Client call takes a user of its own,
// embed.ClientUserOf("1"), "2", and so on.
func Clients(n int) Option { return func(o *options) { o.clients = n } }

// Servers sets the number of NATS servers (3 by default).
func Servers(n int) Option { return func(o *options) { o.servers = n } }

// DeadInterval sets the cluster's T (DefaultDeadInterval by default).
func DeadInterval(d time.Duration) Option { return func(o *options) { o.dead = d } }

// Hosts names the cluster's hosts ("a", "b", "c" by default): each gets an
// agent user and a fault proxy in front of server i mod Servers for the
// i-th host.
func Hosts(names ...string) Option { return func(o *options) { o.hosts = names } }

// Core makes every host a core host (cluster.AgentConfig.Core): the test
// process runs no server, each agent process embeds its host's server
// (routed to the others' on loopback ports chosen at Start) and connects
// to it first. The cluster's servers are up only while their agents run:
// start the agents (Cluster.Agent) before clients. There is no fault
// proxy (Partition, Heal and Reset panic) and Servers is nil; Kill
// crashes a host with its server.
func Core() Option { return func(o *options) { o.core = true } }

// A Cluster is a test's cluster, made by Start. Its methods may be called
// from any goroutine.
type Cluster struct {
	id      string
	hosts   []string
	dead    time.Duration
	name    string
	urls    []string              // every server's client URL
	users   map[string]embed.User // by name
	servers *embed.Servers        // nil for Core
	core    *embed.Deployment     // for Core
	dir     string                // the agents' seed files (t.TempDir)
	proxies map[string]*proxy

	mu      sync.Mutex
	agents  map[string]*Agent // by host, while running (Agent)
	groups  []int             // the process groups of every agent started, for the sweep
	clients int               // the Client users taken
}

// track records the process group pgid (an agent's, which its actors
// share) for the sweep.
func (tc *Cluster) track(pgid int) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.groups = append(tc.groups, pgid)
}

// tracked returns the process groups the sweep looks in.
func (tc *Cluster) tracked() []int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return slices.Clone(tc.groups)
}

// Start starts the cluster of opts and registers its teardown with
// t.Cleanup: the fault proxies are closed, the servers shut down (joined),
// and every process whose environment carries the cluster's ID, or that
// is in an agent's process group, must be gone within 2 s (survivors are killed and fail the test). Cleanups
// registered after Start (Client, agents) run before it. Starting three
// servers takes some tens of milliseconds; Start fails t if they are not
// up within 10 s.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := options{servers: 3, dead: DefaultDeadInterval, hosts: []string{"a", "b", "c"}, clients: DefaultClients}
	for _, opt := range opts {
		opt(&o)
	}
	id := make([]byte, 8)
	_, err := rand.Read(id)
	require.NoError(t, err)
	tc := &Cluster{id: hex.EncodeToString(id), hosts: o.hosts, dead: o.dead, proxies: map[string]*proxy{}, agents: map[string]*Agent{},
		dir: t.TempDir()}

	var clients []string
	for i := range o.clients {
		clients = append(clients, strconv.Itoa(i+1))
	}
	if o.core {
		tc.startCore(t, clients)
		return tc
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tc.servers, err = embed.Start(ctx, embed.Options{
		Servers:      o.servers,
		Hosts:        o.hosts,
		Clients:      clients,
		DeadInterval: o.dead,
		// An agent reaches only its own proxy, never a server it
		// discovered: the proxy is its whole network.
		NoAdvertise: true,
	})
	require.NoError(t, err, "clustertest: start the servers")
	t.Cleanup(tc.teardown(t))
	tc.name, tc.urls = tc.servers.Name(), tc.servers.URLs()
	tc.users = map[string]embed.User{}
	names := append([]string{embed.ClientUser, embed.SysUser}, agentUsers(o.hosts)...)
	for _, p := range clients {
		names = append(names, embed.ClientUserOf(p))
	}
	for _, name := range names {
		u, err := tc.servers.User(name)
		require.NoError(t, err)
		tc.users[name] = u
	}
	for i, h := range o.hosts {
		p, err := newProxy(tc.servers.Server(i % tc.servers.Len()).Addr().String())
		require.NoError(t, err)
		tc.proxies[h] = p
	}
	return tc
}

func agentUsers(hosts []string) []string {
	var users []string
	for _, h := range hosts {
		users = append(users, embed.AgentUser(h))
	}
	return users
}

// startCore is Start for Core: the Deployment every agent gets, on
// loopback ports (embed.LoopbackCore).
func (tc *Cluster) startCore(t testing.TB, clients []string) {
	core, err := embed.LoopbackCore(tc.hosts...)
	require.NoError(t, err, "clustertest: the core hosts' ports")
	d, users, err := embed.NewDeployment("", tc.hosts, core)
	require.NoError(t, err, "clustertest: the core hosts' deployment")
	for _, p := range clients {
		u, err := d.AddClient(embed.ClientUserOf(p))
		require.NoError(t, err, "clustertest: the root programs' users")
		users[u.Name] = u
	}
	tc.core, tc.users, tc.name, tc.urls = &d, users, d.Name, d.URLs()
	t.Cleanup(tc.teardown(t))
}

// teardown is Start's cleanup.
func (tc *Cluster) teardown(t testing.TB) func() {
	return func() {
		for h, p := range tc.proxies {
			if err := p.close(); err != nil {
				t.Errorf("clustertest: close the fault proxy of host %s: %v", h, err)
			}
		}
		if tc.servers != nil {
			tc.servers.Shutdown()
		}
		if left := sweep(tc.id, tc.tracked(), sweepGrace); len(left) > 0 {
			t.Errorf("clustertest: processes of cluster %s left behind (killed now): %v", tc.id, left)
		}
	}
}

// ID is the cluster's random ID, which its processes carry in their
// environment.
func (tc *Cluster) ID() string { return tc.id }

// Name is the cluster name C.
func (tc *Cluster) Name() string { return tc.name }

// DeadInterval is the cluster's T.
func (tc *Cluster) DeadInterval() time.Duration { return tc.dead }

// Hosts are the cluster's host IDs.
func (tc *Cluster) Hosts() []string { return slices.Clone(tc.hosts) }

// Servers are the embedded NATS servers, e.g. to shut one down; nil for
// Core (the agents run them).
func (tc *Cluster) Servers() *embed.Servers { return tc.servers }

// URL is the client URL of server i, not through any proxy (for Core, of
// the i-th host in name order).
func (tc *Cluster) URL(i int) string { return tc.urls[i] }

// URLs are every server's client URL, as URL gives them.
func (tc *Cluster) URLs() []string { return slices.Clone(tc.urls) }

// ProxyURL is the client URL of host h's fault proxy.
func (tc *Cluster) ProxyURL(h string) string { return tc.proxy(h).URL() }

// Config is the cluster.Config of user (embed.ClientUser, embed.SysUser,
// embed.ClientUserOf(p) for a Clients user or embed.AgentUser(h)) with its credentials and the cluster's T. An
// agent's URL is its host's fault proxy; the other users get every
// server's URL. It panics for an unknown user.
func (tc *Cluster) Config(user string) cluster.Config {
	u, ok := tc.users[user]
	if !ok {
		panic(fmt.Sprintf("clustertest: no user %q in this cluster: there are %s, %s and agent-<h> for each host of %v",
			user, embed.ClientUser, embed.SysUser, tc.hosts))
	}
	cfg := cluster.Config{
		Name:         tc.name,
		User:         u.Name,
		URLs:         slices.Clone(tc.urls),
		NKeySeed:     u.Seed,
		DeadInterval: tc.dead,
	}
	for _, h := range tc.hosts {
		if user == embed.AgentUser(h) && tc.core == nil {
			cfg.URLs = []string{tc.ProxyURL(h)}
		}
	}
	return cfg
}

// Client joins the cluster as a root program with a user of its own (the
// next unused of the Clients option's, embed.ClientUserOf("1") first: no
// two Clients share a user, and so none can touch another's links) and
// closes the connection when t ends. It fails t if the users are all taken
// or the join does not succeed within 10 s.
func (tc *Cluster) Client(t testing.TB) *cluster.Cluster {
	t.Helper()
	tc.mu.Lock()
	tc.clients++
	user := embed.ClientUserOf(strconv.Itoa(tc.clients))
	tc.mu.Unlock()
	if _, ok := tc.users[user]; !ok {
		t.Fatalf("clustertest: Client: every root program's user is taken (%d): start the cluster with clustertest.Clients(n) for more", tc.clients-1)
	}
	return tc.Join(t, tc.Config(user))
}

// Join joins the cluster with cfg (from Config, possibly changed) and
// closes the connection when t ends. It fails t if the join does not
// succeed within 10 s.
func (tc *Cluster) Join(t testing.TB, cfg cluster.Config) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := cluster.Join(ctx, cfg)
	require.NoError(t, err, "clustertest: join as %s", cfg.User)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("clustertest: close the connection of %s: %v", cfg.User, err)
		}
	})
	return c
}

// Partition cuts host h off: its fault proxy stops forwarding both ways
// and keeps the sockets open, as a network partition does; nothing is
// lost, what was sent arrives after Heal unless an end gave up first.
func (tc *Cluster) Partition(h string) { tc.proxy(h).blackhole() }

// Heal undoes Partition.
func (tc *Cluster) Heal(h string) { tc.proxy(h).pass() }

// Reset closes both sockets of every connection through host h's fault
// proxy (a link reset, a server failover); new connections pass.
func (tc *Cluster) Reset(h string) { tc.proxy(h).reset() }

func (tc *Cluster) proxy(h string) *proxy {
	p, ok := tc.proxies[h]
	if !ok && tc.core != nil && slices.Contains(tc.hosts, h) {
		panic(fmt.Sprintf("clustertest: host %q is a core host (clustertest.Core): its agent connects to its own server, through no fault proxy", h))
	}
	if !ok {
		panic(fmt.Sprintf("clustertest: no host %q in this cluster: it has %v (clustertest.Hosts)", h, tc.hosts))
	}
	return p
}

func (tc *Cluster) agentUser(h string) string {
	if !slices.Contains(tc.hosts, h) {
		panic(fmt.Sprintf("clustertest: no host %q in this cluster: it has %v (clustertest.Hosts)", h, tc.hosts))
	}
	return embed.AgentUser(h)
}
