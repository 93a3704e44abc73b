package transport

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"
)

// Defaults for the options below.
const (
	// DefaultWindow is how many Yield items a stream buffers per direction
	// before its sender must wait for credit. Unless [WithWindow] sets the
	// window, it grows while the items are small: up to 16 times, as long
	// as the items in flight at their recent mean size take at most
	// 128 KiB.
	DefaultWindow = 256
	// DefaultMaxStreams is how many incoming streams may be open at once on
	// one connection; a Call beyond it is answered with [ErrTooManyStreams].
	DefaultMaxStreams = 4096
	// DefaultHandshakeTimeout bounds the whole handshake, authentication
	// included.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultAuthTimeout bounds how long a Listener lets a new connection
	// stay unauthenticated.
	DefaultAuthTimeout = 2 * time.Second
	// DefaultCloseTimeout bounds how long Close spends flushing queued
	// frames to a peer that does not read.
	DefaultCloseTimeout = time.Second

	// maxPending is how many bytes of frames may wait for the writer before
	// senders block.
	maxPending = 1 << 20
	// maxHandshakes bounds the handshakes a Listener runs at once.
	maxHandshakes = 128
	// minMaxFrame is the smallest frame limit a peer may announce.
	minMaxFrame = 1 << 10
	// maxWindow is the largest window a peer may announce, so that credits
	// never overflow.
	maxWindow = 1 << 30
)

// An Option configures a connection or a listener.
type Option func(*config)

type config struct {
	maxFrame         int
	window           int
	fixedWindow      bool // WithWindow set it: no growth for small items
	batch            int  // the most items this side accepts in a Batch; 0: none
	maxStreams       int
	handshakeTimeout time.Duration
	closeTimeout     time.Duration
	actor            ActorID
	role             string
	secret           []byte
	tls              *tls.Config
	onReject         func(remote net.Addr, err error) // nil: the Listener's aggregated log
	handler          func(*Stream)
	baseContext      context.Context
	authTimeout      time.Duration
	logger           *slog.Logger
	pending          *pending // the Listener's slot this handshake holds; nil elsewhere
}

func newConfig(opts []Option) config {
	c := config{
		maxFrame:         DefaultMaxFrame,
		window:           DefaultWindow,
		batch:            maxBatchItems,
		maxStreams:       DefaultMaxStreams,
		handshakeTimeout: DefaultHandshakeTimeout,
		closeTimeout:     DefaultCloseTimeout,
		baseContext:      context.Background(),
		authTimeout:      DefaultAuthTimeout,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithMaxFrame sets the largest frame body this side accepts, in bytes
// (default [DefaultMaxFrame]). It is announced to the peer, whose sends
// over it fail with [ErrFrameTooLarge] without closing the connection. It
// panics if n is below 1 KiB or above 4 GiB - 1.
func WithMaxFrame(n int) Option {
	if n < minMaxFrame || uint64(n) > 1<<32-1 {
		panic("transport: WithMaxFrame needs 1 KiB <= n < 4 GiB")
	}
	return func(c *config) { c.maxFrame = n }
}

// WithWindow sets how many Yield items this side buffers per stream before
// the peer must wait for credit (default [DefaultWindow], which grows for
// small items; a window set here does not). Memory per stream is bounded
// by the window times the frame limit. It panics if n < 1.
func WithWindow(n int) Option {
	if n < 1 || n > maxWindow {
		panic("transport: WithWindow needs 1 <= n <= 2^30")
	}
	return func(c *config) { c.window, c.fixedWindow = n, true }
}

// WithMaxStreams sets how many incoming streams may be open at once
// (default [DefaultMaxStreams]). It panics if n < 1.
func WithMaxStreams(n int) Option {
	if n < 1 {
		panic("transport: WithMaxStreams needs n >= 1")
	}
	return func(c *config) { c.maxStreams = n }
}

// WithHandshakeTimeout bounds the whole handshake, TLS and authentication
// included (default [DefaultHandshakeTimeout]); a peer silent past it is
// dropped. Zero or less means no bound but ctx.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) { c.handshakeTimeout = d }
}

// WithAuthTimeout bounds how long a Listener lets a new connection stay
// unauthenticated (default [DefaultAuthTimeout]): until the dialer's
// proof of the secret (TLS included), or over a Unix socket without a
// secret until its preface. A legitimate dialer sends those within a round trip or two
// of connecting, so a peer silent or slow past it is dropped long before
// the handshake timeout, which still bounds the whole handshake. When the
// listener is full, an unauthenticated handshake is safe from eviction for
// a twentieth of it (100 ms by default): raise it for links whose round
// trip is over 50 ms (TLS) or 100 ms, at the cost of admitting fewer new
// connections a second under a flood. Zero or less means only the
// handshake timeout applies, and 100 ms of grace. Dialers ignore it.
func WithAuthTimeout(d time.Duration) Option {
	return func(c *config) { c.authTimeout = d }
}

// WithCloseTimeout bounds how long Close flushes queued frames (default
// [DefaultCloseTimeout]).
func WithCloseTimeout(d time.Duration) Option {
	return func(c *config) { c.closeTimeout = d }
}

// WithIdentity sets the actor identity and role announced in the Hello.
func WithIdentity(actor ActorID, role string) Option {
	return func(c *config) { c.actor, c.role = actor, role }
}

// WithSecret sets the shared secret connections authenticate with: at
// least 16 bytes, required over TCP, optional over a Unix socket (a
// listener with one serves only the dialers that have it too). Both ends
// prove they know it with an HMAC-SHA256 challenge-response; the secret
// never crosses the wire. An empty secret is a secret too short, an error
// at listen or dial, never the same as none.
func WithSecret(secret []byte) Option {
	s := append([]byte{}, secret...)
	return func(c *config) { c.secret = s }
}

// WithTLS runs TCP connections over TLS with cfg. A listener always
// requires and verifies a client certificate (mutual TLS), so cfg must set
// ClientCAs; a dialer must set the certificates it presents.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls = cfg }
}

// WithRejectHook sets the function a Listener calls for each connection it
// drops during the handshake (garbage, silence, wrong secret, wrong
// version, evicted to make room), instead of logging it. It is called on
// the listener's goroutines, once per connection: under attack that can be
// thousands of times a second, so fn must be quick and must aggregate what
// it reports. Without a hook the Listener logs to [WithLogger]'s logger:
// the first rejection after a quiet spell at once, then at most one line
// every 10 s with the counts by reason; warnings, or debug lines when every
// rejected peer just hung up (a probe, a health check).
func WithRejectHook(fn func(remote net.Addr, err error)) Option {
	return func(c *config) { c.onReject = fn }
}

// WithLogger sets the logger a Listener reports rejected connections to
// (default: [slog.Default] at the time of each line); see [WithRejectHook]
// for what it writes.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) { c.logger = logger }
}

// WithHandler makes the connection run h for every stream the peer opens,
// instead of queueing the streams for [Conn.Accept]. It is the faster way
// to serve: the goroutine that read the Call runs h at once, so a call
// starts without a goroutine handoff, and the connection's watchdog starts
// another reader if h runs for longer than 200 µs to 2 ms (a Call read by
// a goroutine waiting in [Stream.Recv] gets a goroutine of its own). Frames
// for other streams may therefore wait that long while h runs and no one
// else reads. h must return once its stream ends or
// [Stream.Context] is done; [Conn.Close] waits for every h to return, so
// h must not call Close itself (cancel something Close's caller waits on).
func WithHandler(h func(*Stream)) Option {
	return func(c *config) { c.handler = h }
}

// WithBaseContext sets the context from which every incoming stream's
// [Stream.Context] derives (default [context.Background]), as net/http's
// Server.BaseContext: its values reach the code that serves the stream,
// and its end ends every stream's context, with its cause, though not the
// connection (the streams can still answer). A nil ctx panics.
func WithBaseContext(ctx context.Context) Option {
	if ctx == nil {
		panic("transport: WithBaseContext needs a ctx: pass context.Background() for none")
	}
	return func(c *config) { c.baseContext = ctx }
}
