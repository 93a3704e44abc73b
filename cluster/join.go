package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/internal/subject"
)

// Reconnection settings (scaleout design §5.4 rule 3): a client whose server
// goes away tries the others every 100 ms (plus jitter), for as long as it
// is open, and buffers nothing meanwhile: the bearer retransmits what a
// reconnect lost.
const (
	reconnectWait   = 100 * time.Millisecond
	reconnectJitter = 100 * time.Millisecond
	// connectTimeout bounds one connection attempt (dial, TLS, CONNECT).
	connectTimeout = 2 * time.Second
	// closeTimeout bounds Close's wait for the client's last callback.
	closeTimeout = 5 * time.Second
)

// A Cluster is this program's connection to a cluster, made by Join. Its
// methods may be called from any goroutine.
type Cluster struct {
	cfg    Config
	nc     *nats.Conn
	closed chan struct{} // closed by the client's ClosedHandler
	m      members       // the view of the hosts, and the links held

	closeOnce sync.Once
	closeErr  error

	deniedMu sync.Mutex
	denied   map[string]map[*context.CancelCauseFunc]struct{} // requests by subject
}

// request is nc.RequestWithContext that ends as soon as the servers refuse
// this user's publish on subj (a permission violation, which NATS reports
// only to the error handler), with an error matching
// actor.ErrNotAuthorized that names the subject.
func (c *Cluster) request(ctx context.Context, subj string, data []byte) (*nats.Msg, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.deniedMu.Lock()
	if c.denied == nil {
		c.denied = map[string]map[*context.CancelCauseFunc]struct{}{}
	}
	if c.denied[subj] == nil {
		c.denied[subj] = map[*context.CancelCauseFunc]struct{}{}
	}
	c.denied[subj][&cancel] = struct{}{}
	c.deniedMu.Unlock()
	defer func() {
		c.deniedMu.Lock()
		delete(c.denied[subj], &cancel)
		if len(c.denied[subj]) == 0 {
			delete(c.denied, subj)
		}
		c.deniedMu.Unlock()
	}()
	msg, err := c.nc.RequestWithContext(rctx, subj, data)
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(rctx); errors.Is(cause, actor.ErrNotAuthorized) {
			return nil, cause
		}
	}
	return msg, err
}

// onAsyncError ends the requests a permission violation concerns.
func (c *Cluster) onAsyncError(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	// "nats: permissions violation: Permissions Violation for Publish to
	// \"subj\"" (grove's subjects are lower case)
	_, rest, ok := strings.Cut(strings.ToLower(err.Error()), "publish to \"")
	if !ok {
		return
	}
	subj, _, _ := strings.Cut(rest, "\"")
	cause := fmt.Errorf("cluster: the servers do not let user %s publish on %s: %w (give the program a user whose permissions allow it, e.g. a client's)",
		c.cfg.User, subj, actor.ErrNotAuthorized)
	c.deniedMu.Lock()
	defer c.deniedMu.Unlock()
	for cancel := range c.denied[subj] {
		(*cancel)(cause)
	}
}

// Join connects to the cluster of cfg as cfg.User, authenticating with its
// nkey, and returns once connected. It tries the URLs in turn until one
// accepts, retrying every 100 ms while none answers, until ctx ends; a
// refusal of the credentials ends it at once with ErrAuth, a Config
// without credentials with ErrNoCredentials. Once joined, the connection
// pings every DeadInterval/2 and, when its server goes away, reconnects to
// any of the URLs until Close. It owns a few goroutines of the NATS client
// (reader, flusher, callbacks), which Close ends.
func Join(ctx context.Context, cfg Config) (*Cluster, error) { return join(ctx, cfg) }

// join is Join with more options of the NATS client.
func join(ctx context.Context, cfg Config, more ...nats.Option) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed(cfg.NKeySeed)
	if err != nil {
		return nil, fmt.Errorf("cluster: Config.NKeySeed is not an nkey seed (it starts \"SU\"): %w", err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("cluster: Config.NKeySeed: %w", err)
	}
	c := &Cluster{cfg: cfg, closed: make(chan struct{})}
	d := &joinDialer{ctx: ctx}
	defer d.joined()
	// The seed is kept (a copy) for the signatures of reconnections.
	seed := append([]byte(nil), cfg.NKeySeed...)
	sign := func(nonce []byte) ([]byte, error) {
		kp, err := nkeys.FromSeed(seed)
		if err != nil {
			return nil, err
		}
		defer kp.Wipe()
		return kp.Sign(nonce)
	}
	opts := []nats.Option{
		nats.Name("grove " + cfg.Name + " " + cfg.User),
		nats.Nkey(pub, sign),
		nats.CustomInboxPrefix(subject.InboxPrefix(cfg.User)),
		nats.SetCustomDialer(d),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitter),
		nats.MaxReconnects(-1),
		nats.ReconnectBufSize(-1),
		nats.PingInterval(cfg.DeadInterval / 2),
		nats.MaxPingsOutstanding(2),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.ReconnectHandler(func(*nats.Conn) { c.m.resume() }),
		// Asynchronous errors (a permission violation) reach the
		// subscription or request they concern; none is printed.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { c.onAsyncError(err) }),
	}
	opts = append(opts, more...)
	if cfg.TLS != nil {
		opts = append(opts, nats.Secure(cfg.TLS), nats.TLSHandshakeFirst())
	}
	urls := strings.Join(cfg.URLs, ",")
	for {
		timeout := connectTimeout
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
			timeout = max(time.Until(dl), time.Millisecond)
		}
		d.setTimeout(timeout)
		nc, err := nats.Connect(urls, append(opts, nats.Timeout(timeout))...)
		if err == nil {
			d.joined()
			if err := ctx.Err(); err != nil {
				nc.Close()
				<-c.closed
				return nil, fmt.Errorf("cluster: join %s as %s: %w", cfg.Name, cfg.User, context.Cause(ctx))
			}
			c.nc = nc
			if err := c.m.start(c); err != nil {
				nc.Close()
				<-c.closed
				return nil, fmt.Errorf("cluster: join %s as %s: %w", cfg.Name, cfg.User, err)
			}
			return c, nil
		}
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			return nil, fmt.Errorf("%w (cluster %s, user %s, nkey %s: check Config.User and Config.NKeySeed against the servers' users): %w",
				ErrAuth, cfg.Name, cfg.User, pub, err)
		}
		t := time.NewTimer(reconnectWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("cluster: join %s as %s at %s: %w (last attempt: %w)", cfg.Name, cfg.User, urls, context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// Conn is the cluster's NATS connection, for the packages of this module
// (natslink) and for diagnostics. It stays the Cluster's: do not close it
// or replace its handlers.
func (c *Cluster) Conn() *nats.Conn { return c.nc }

// Close closes the connection and returns once the NATS client's
// goroutines have delivered their last callback, within a few
// milliseconds. Messages not yet flushed are dropped. Later calls return
// the first call's result.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.nc.Close()
		defer c.m.stop()
		t := time.NewTimer(closeTimeout)
		defer t.Stop()
		select {
		case <-c.closed:
		case <-t.C:
			c.closeErr = fmt.Errorf("cluster: the NATS client of %s did not report its close within %v", c.cfg.User, closeTimeout)
		}
	})
	return c.closeErr
}

// joinDialer dials the servers for the NATS client. While Join runs, a
// dial, and the handshake on its connection, end when Join's context does;
// afterwards (reconnections) they are bounded by the client's timeout only.
type joinDialer struct {
	mu      sync.Mutex
	timeout time.Duration   // set before each attempt of Join, then fixed
	ctx     context.Context // Join's; nil once joined
	stops   []func() bool
}

func (d *joinDialer) setTimeout(t time.Duration) {
	d.mu.Lock()
	d.timeout = t
	d.mu.Unlock()
}

// Dial implements nats.CustomDialer.
func (d *joinDialer) Dial(network, addr string) (net.Conn, error) {
	d.mu.Lock()
	ctx, timeout := d.ctx, d.timeout
	d.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx != nil {
		// Break the handshake if Join's context ends during it.
		d.stops = append(d.stops, context.AfterFunc(d.ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }))
	}
	return conn, nil
}

// joined detaches the dialer from Join's context.
func (d *joinDialer) joined() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, stop := range d.stops {
		stop()
	}
	d.ctx, d.stops = nil, nil
}
