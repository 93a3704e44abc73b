package embed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/grove-rt/grove/cluster/internal/subject"
)

// A Deployment is what every core host of a cluster is configured with,
// the same file on each: the cluster name, the public key of every user,
// the route password, and each core host's addresses. It holds no user's
// seed (the route password is its one secret). [NewDeployment] generates
// one with its users; it marshals to JSON as it is.
type Deployment struct {
	// Name is the cluster name C.
	Name string `json:"name"`
	// Users maps each user's name to its public nkey ("U…"): ClientUser
	// and any other root program's user, SysUser, AgentUser(h) per host.
	// Each gets the permissions of its kind: SysUser the system account,
	// "agent-<h>" an agent's, any other name a root program's.
	Users map[string]string `json:"users"`
	// RoutePassword is the secret the servers' routes authenticate with.
	RoutePassword string `json:"route_password"`
	// Core maps each core host to the addresses its server listens on.
	Core map[string]CoreAddrs `json:"core"`
}

// CoreAddrs are a core host's server addresses, "host:port" each: where
// it listens and where the others reach it.
type CoreAddrs struct {
	// Client is the client port's address (4222 by convention).
	Client string `json:"client"`
	// Route is the cluster port's address (6222 by convention).
	Route string `json:"route"`
}

// LoopbackCore returns addresses on 127.0.0.1 for the core hosts hosts,
// two ports each that were free a moment ago (another process may take
// one before the server listens): for tests and for trying a cluster of
// several processes on one machine.
func LoopbackCore(hosts ...string) (map[string]CoreAddrs, error) {
	// Every listener stays open until all the ports are picked, so that no
	// port is handed out twice in one call (the kernel may give a port
	// just closed to the next bind).
	var open []net.Listener
	defer func() {
		for _, l := range open {
			l.Close()
		}
	}()
	pick := func() (string, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("embed: find a free loopback port: %w", err)
		}
		open = append(open, l)
		return l.Addr().String(), nil
	}
	core := make(map[string]CoreAddrs, len(hosts))
	for _, h := range hosts {
		client, err := pick()
		if err != nil {
			return nil, err
		}
		route, err := pick()
		if err != nil {
			return nil, err
		}
		core[h] = CoreAddrs{Client: client, Route: route}
	}
	return core, nil
}

// NewDeployment generates the users of a cluster called name (ClientUser,
// SysUser, and AgentUser(h) for each of hosts, core or not) and its route
// password: the Deployment to write on every core host, with core's
// addresses, and the users with their seeds, to hand each to its program
// only. It costs one nkey generation per user (microseconds).
func NewDeployment(name string, hosts []string, core map[string]CoreAddrs) (Deployment, map[string]User, error) {
	if name == "" {
		name = subject.Default
	}
	if err := subject.Check("embed: cluster name", name, subject.MaxName); err != nil {
		return Deployment{}, nil, err
	}
	users, err := newUsers(hosts)
	if err != nil {
		return Deployment{}, nil, err
	}
	pass, err := secret()
	if err != nil {
		return Deployment{}, nil, err
	}
	d := Deployment{Name: name, Users: map[string]string{}, RoutePassword: pass, Core: core}
	for n, u := range users {
		d.Users[n] = u.PublicKey
	}
	return d, users, nil
}

// AddClient generates the user of one more root program, called name, and
// adds its public key to d: each program that joins gets a user of its own
// (ClientUserOf), whose permissions cover its own links only, so that no
// program can read or write another's. Add every user before the servers
// start from d (they read d.Users once). It costs one nkey generation.
func (d *Deployment) AddClient(name string) (User, error) {
	if err := subject.Check("embed: user", name, subject.MaxUser); err != nil {
		return User{}, err
	}
	if _, agent := strings.CutPrefix(name, subject.Agent("")); agent || name == SysUser {
		return User{}, fmt.Errorf("embed: %q is the name of an agent or system user: name a root program's user e.g. ClientUserOf(\"worker\")", name)
	}
	if _, dup := d.Users[name]; dup {
		return User{}, fmt.Errorf("embed: the Deployment has a user %s already: give each program a name of its own", name)
	}
	u, err := newUser(name)
	if err != nil {
		return User{}, err
	}
	if d.Users == nil {
		d.Users = map[string]string{}
	}
	d.Users[name] = u.PublicKey
	return u, nil
}

// URLs are the client URLs of every core host's server, in host order:
// cluster.Config.URLs for any program of the cluster.
func (d Deployment) URLs() []string {
	var urls []string
	for _, h := range d.coreHosts() {
		urls = append(urls, "nats://"+d.Core[h].Client)
	}
	return urls
}

func (d Deployment) coreHosts() []string {
	hosts := make([]string, 0, len(d.Core))
	for h := range d.Core {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	return hosts
}

// ServerOptions configures StartServer: the server of one core host.
type ServerOptions struct {
	// Deployment is the cluster's, the same on every core host.
	Deployment
	// Host is the core host whose server this is: a key of
	// Deployment.Core. The server is named "<Name>-<Host>" ([ServerName]) and routes to
	// every other core host.
	Host string
	// DeadInterval, AuthTimeout, TLS, JetStream, StoreDir and NoAdvertise
	// are as in [Options].
	DeadInterval time.Duration
	AuthTimeout  time.Duration
	TLS          *tls.Config `json:"-"`
	JetStream    bool
	StoreDir     string
	NoAdvertise  bool
}

// StartServer starts the server of one core host, listening on its
// addresses of Deployment.Core and routing to every other core host (each
// retried until it answers: the others may start later), and returns once
// it accepts connections, or ctx ends (then it is shut down). It does not
// wait for routes. The Servers it returns hold that one server and no
// user's seed; Shutdown stops it.
func StartServer(ctx context.Context, opts ServerOptions) (*Servers, error) {
	me, ok := opts.Core[opts.Host]
	if !ok {
		return nil, fmt.Errorf("embed: ServerOptions.Host %q is not a core host of the Deployment (it has %v): set it to this host's key in Deployment.Core",
			opts.Host, opts.coreHosts())
	}
	c, err := common{
		dead: opts.DeadInterval, auth: opts.AuthTimeout, tls: opts.TLS,
		jetStream: opts.JetStream, storeDir: opts.StoreDir, noAdvertise: opts.NoAdvertise,
	}.withDefaults("ServerOptions")
	if err != nil {
		return nil, err
	}
	var routes []*url.URL
	for _, h := range opts.coreHosts() {
		if h != opts.Host {
			routes = append(routes, routeURL(opts.RoutePassword, opts.Core[h].Route))
		}
	}
	o, err := serverOptions(opts.Deployment, c, ServerName(opts.Name, opts.Host), me.Client, me.Route, routes)
	if err != nil {
		return nil, err
	}
	s := &Servers{name: opts.Name}
	if err := s.start(ctx, o); err != nil {
		return nil, fmt.Errorf("embed: start the server of %s: %w", opts.Host, err)
	}
	return s, nil
}

// ServerName is the name StartServer gives the server of core host host
// in the cluster called name, "<name>-<host>": what the other servers'
// routes report as the route's remote (server.RouteInfo.RemoteName).
func ServerName(name, host string) string { return name + "-" + host }

// common are the options Start and StartServer share.
type common struct {
	dead, auth  time.Duration
	tls         *tls.Config
	jetStream   bool
	storeDir    string
	noAdvertise bool
}

// withDefaults checks c, the fields of struct what, and fills in the
// defaults.
func (c common) withDefaults(what string) (common, error) {
	if c.dead == 0 {
		c.dead = DefaultDeadInterval
	}
	if c.auth == 0 {
		c.auth = DefaultAuthTimeout
	}
	if c.dead < 0 || c.auth < 0 {
		return c, fmt.Errorf("embed: %s.DeadInterval and AuthTimeout must not be negative (0 for the defaults)", what)
	}
	if c.jetStream && c.storeDir == "" {
		return c, fmt.Errorf("embed: %[1]s.JetStream needs %[1]s.StoreDir: set it to a directory for the streams", what)
	}
	return c, nil
}

const routeUser = "route"

func routeURL(pass, addr string) *url.URL {
	return &url.URL{Scheme: "nats", User: url.UserPassword(routeUser, pass), Host: addr}
}

// serverOptions are the nats-server options of the server called name,
// with the users of d and their permissions, listening for clients on
// listen and for routes on clusterListen ("host:port", port 0 for a free
// one), routed to routes.
func serverOptions(d Deployment, c common, name, listen, clusterListen string, routes []*url.URL) (*server.Options, error) {
	host, port, err := hostPort("client", listen)
	if err != nil {
		return nil, err
	}
	chost, cport, err := hostPort("route", clusterListen)
	if err != nil {
		return nil, err
	}
	nkeys, grove, sys, err := d.nkeys()
	if err != nil {
		return nil, err
	}
	o := &server.Options{
		ServerName:    name,
		Host:          host,
		Port:          port,
		NoLog:         true,
		NoSigs:        true,
		MaxPayload:    1 << 20,
		PingInterval:  c.dead / 2,
		MaxPingsOut:   2,
		AuthTimeout:   c.auth.Seconds(),
		Accounts:      []*server.Account{grove, sys},
		SystemAccount: "SYS",
		Nkeys:         nkeys,
		Cluster: server.ClusterOpts{
			Name:         d.Name,
			Host:         chost,
			Port:         cport,
			Username:     routeUser,
			Password:     d.RoutePassword,
			AuthTimeout:  c.auth.Seconds(),
			NoAdvertise:  c.noAdvertise,
			PingInterval: c.dead / 2,
			MaxPingsOut:  2,
		},
		Routes:    routes,
		JetStream: c.jetStream,
	}
	if c.tls != nil {
		o.TLSConfig = c.tls
		o.TLSTimeout = c.auth.Seconds()
		o.TLSHandshakeFirst = true
	}
	if c.jetStream {
		o.StoreDir = filepath.Join(c.storeDir, name)
	}
	return o, nil
}

// nkeys are the server's users of d, in accounts of their own (accounts
// belong to one server).
func (d Deployment) nkeys() ([]*server.NkeyUser, *server.Account, *server.Account, error) {
	if d.RoutePassword == "" {
		return nil, nil, nil, errors.New("embed: the Deployment has no RoutePassword: generate it with NewDeployment")
	}
	grove := server.NewAccount("GROVE")
	sys := server.NewAccount("SYS")
	var nkeys []*server.NkeyUser
	for name, pub := range d.Users {
		if err := subject.Check("embed: user", name, subject.MaxUser); err != nil {
			return nil, nil, nil, err
		}
		nu := &server.NkeyUser{Nkey: pub, Account: grove}
		if h, agent := strings.CutPrefix(name, subject.Agent("")); agent {
			nu.Permissions = agentPermissions(d.Name, h)
		} else if name == SysUser {
			nu.Account = sys
		} else {
			nu.Permissions = clientPermissions(d.Name, name)
		}
		nkeys = append(nkeys, nu)
	}
	return nkeys, grove, sys, nil
}

// hostPort splits a listen address; port 0 is a free one.
func hostPort(what, addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("embed: the %s address %q: %w (write host:port)", what, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("embed: the %s address %q has no port number (write host:port)", what, addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return h, port, nil
}
