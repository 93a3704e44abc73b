// Package embed runs a grove cluster's NATS servers inside a Go process:
// N servers on 127.0.0.1 routed in a full mesh, with nkey users generated at
// start and subject permissions per user. No server ever accepts an
// unauthenticated client, and the routes between servers need a password
// generated at start too.
//
// cluster.Serve embeds one server per core host with it; the harness
// clustertest starts a whole cluster in a test process.
package embed

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/grove-rt/grove/cluster/internal/subject"
)

// DefaultDeadInterval is T when Options.DeadInterval is zero: the same
// default as cluster.Config.DeadInterval.
const DefaultDeadInterval = 5 * time.Second

// DefaultAuthTimeout is how long a server waits for a new connection's
// CONNECT (nats-server's AUTH_TIMEOUT) when Options.AuthTimeout is zero.
const DefaultAuthTimeout = 2 * time.Second

// Options configures Start. The zero value starts three servers of cluster
// "grove" with the client and system users and no agent.
type Options struct {
	// Name is the cluster name C, the second token of every grove subject;
	// "grove" if empty.
	Name string
	// Servers is the number of servers; 3 if zero.
	Servers int
	// Hosts are the host IDs ([a-z0-9-], up to 63 characters) that get an
	// agent user each, AgentUser(h).
	Hosts []string
	// Clients names the root programs that get a user of their own
	// besides ClientUser, ClientUserOf(p) for each p (Servers.User).
	Clients []string
	// DeadInterval is the cluster's T: servers ping every client and route
	// every T/2 and drop it after two unanswered pings, so a silent peer
	// is cut within about 1½T. DefaultDeadInterval if zero.
	DeadInterval time.Duration
	// AuthTimeout bounds the time a connection may take to authenticate;
	// DefaultAuthTimeout if zero.
	AuthTimeout time.Duration
	// TLS, if set, is the servers' TLS configuration for client
	// connections (a certificate at least), with the handshake first:
	// nothing is sent in clear. Clients must set cluster.Config.TLS.
	TLS *tls.Config
	// JetStream enables JetStream on every server, storing under
	// StoreDir (one directory per server), which it then requires.
	JetStream bool
	StoreDir  string
	// NoAdvertise keeps the servers from telling clients the other
	// servers' addresses, so that a client reconnects only to the URLs it
	// was given (the harness's fault proxies rely on it).
	NoAdvertise bool
}

// Servers are running embedded NATS servers of one cluster. Its methods
// may be called from any goroutine.
type Servers struct {
	name    string
	servers []*server.Server
	users   map[string]User
}

// Start starts the servers of opts, each on a random client port of
// 127.0.0.1, the first with a random cluster port and the others routed to
// it (gossip completes the mesh), and returns once every server accepts
// connections and is routed to all the others, or ctx ends (then every
// server started is shut down). Starting three servers takes some tens of
// milliseconds. Shutdown stops them.
func Start(ctx context.Context, opts Options) (*Servers, error) {
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.Servers < 0 {
		return nil, fmt.Errorf("embed: Options.Servers is %d: set it to 1 or more, or 0 for 3", opts.Servers)
	}
	c, err := common{
		dead: opts.DeadInterval, auth: opts.AuthTimeout, tls: opts.TLS,
		jetStream: opts.JetStream, storeDir: opts.StoreDir, noAdvertise: opts.NoAdvertise,
	}.withDefaults("Options")
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = subject.Default
	}
	if err := subject.Check("embed: Options.Name", opts.Name, subject.MaxName); err != nil {
		return nil, err
	}
	d, users, err := NewDeployment(opts.Name, opts.Hosts, nil)
	if err != nil {
		return nil, err
	}
	for _, p := range opts.Clients {
		u, err := d.AddClient(ClientUserOf(p))
		if err != nil {
			return nil, fmt.Errorf("embed: Options.Clients: %w", err)
		}
		users[u.Name] = u
	}
	s := &Servers{name: d.Name, users: users}
	var routes []*url.URL
	for i := range opts.Servers {
		o, err := serverOptions(d, c, d.Name+"-"+strconv.Itoa(i), "127.0.0.1:0", "127.0.0.1:0", routes)
		if err != nil {
			s.Shutdown()
			return nil, err
		}
		if err := s.start(ctx, o); err != nil {
			s.Shutdown()
			return nil, fmt.Errorf("embed: server %d: %w", i, err)
		}
		if routes == nil {
			addr := s.servers[0].ClusterAddr()
			if addr == nil {
				s.Shutdown()
				return nil, errors.New("embed: server 0 has no cluster listener")
			}
			routes = []*url.URL{routeURL(d.RoutePassword, addr.String())}
		}
	}
	if err := s.meshed(ctx); err != nil {
		s.Shutdown()
		return nil, err
	}
	return s, nil
}

// start starts a server with o, adds it to s and waits until it accepts
// connections or ctx ends (then it is shut down).
func (s *Servers) start(ctx context.Context, o *server.Options) error {
	srv, err := server.NewServer(o)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	srv.Start()
	if err := ready(ctx, srv); err != nil {
		// A server shut down while its listeners are still coming up can
		// miss one (its accept loop then outlives the shutdown): let them
		// come up first, for a bounded time.
		srv.ReadyForConnections(listenersUp)
		srv.Shutdown()
		srv.WaitForShutdown()
		return err
	}
	s.servers = append(s.servers, srv)
	return nil
}

// newUsers generates the client, system and agent users.
func newUsers(hosts []string) (map[string]User, error) {
	names := []string{ClientUser, SysUser}
	for _, h := range hosts {
		if err := subject.Check("embed: host", h, subject.MaxName); err != nil {
			return nil, err
		}
		names = append(names, AgentUser(h))
	}
	users := make(map[string]User, len(names))
	for _, n := range names {
		if _, dup := users[n]; dup {
			return nil, fmt.Errorf("embed: Options.Hosts names %s twice", n)
		}
		u, err := newUser(n)
		if err != nil {
			return nil, err
		}
		users[n] = u
	}
	return users, nil
}

// secret is a random route password.
func secret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("embed: generate the route password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// listenersUp bounds how long a server that Start abandons is given to
// bring its listeners up before it is shut down.
const listenersUp = 5 * time.Second

// poll is how often Start looks at a server's state while it waits: the
// server has no event to wait on for either readiness or its routes.
const poll = 5 * time.Millisecond

// ready waits until srv accepts client connections, or ctx ends.
func ready(ctx context.Context, srv *server.Server) error {
	for !srv.ReadyForConnections(poll) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("not ready when the context ended: %w", context.Cause(ctx))
		}
	}
	return nil
}

// meshed waits until every server is routed to every other, or ctx ends.
func (s *Servers) meshed(ctx context.Context) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		missing := -1
		for i, srv := range s.servers {
			if srv.NumRemotes() < len(s.servers)-1 {
				missing = i
				break
			}
		}
		if missing < 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embed: server %d has %d of its %d routes when the context ended: %w",
				missing, s.servers[missing].NumRemotes(), len(s.servers)-1, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// Name is the cluster name C.
func (s *Servers) Name() string { return s.name }

// Len is the number of servers.
func (s *Servers) Len() int { return len(s.servers) }

// URL is the client URL of server i ("nats://127.0.0.1:port").
func (s *Servers) URL(i int) string { return s.servers[i].ClientURL() }

// URLs are the client URLs of every server, in order.
func (s *Servers) URLs() []string {
	urls := make([]string, len(s.servers))
	for i := range s.servers {
		urls[i] = s.URL(i)
	}
	return urls
}

// Server is server i, for what this package does not wrap (monitoring,
// shutting down one server to simulate a core host's loss).
func (s *Servers) Server(i int) *server.Server { return s.servers[i] }

// User returns the user called name (ClientUser, SysUser, a
// ClientUserOf of Options.Clients or an AgentUser of Options.Hosts), or an error naming the users there are.
func (s *Servers) User(name string) (User, error) {
	if s.users == nil {
		return User{}, fmt.Errorf("embed: no user %q here: a server of StartServer holds no user's seed (NewDeployment returned them)", name)
	}
	u, ok := s.users[name]
	if !ok {
		return User{}, fmt.Errorf("embed: no user %q in cluster %s: there are %s, %s and agent-<h> for each host of Options.Hosts",
			name, s.name, ClientUser, SysUser)
	}
	return u, nil
}

// Shutdown stops every server and returns once each has shut down and
// its goroutines have ended: its clients and routes are closed (a client
// sees EOF). It may be called more than once.
func (s *Servers) Shutdown() {
	for i := len(s.servers) - 1; i >= 0; i-- {
		s.servers[i].Shutdown()
		s.servers[i].WaitForShutdown()
	}
}
