package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// A Listener accepts connections and runs their handshakes concurrently, so
// one slow, silent or hostile client never delays the others. At most 128
// handshakes run at once; when all are taken, the next connection waits its
// turn and, once an unauthenticated handshake has held its slot for a
// twentieth of the auth timeout (100 ms by default), the oldest one from the
// address holding the most is dropped to make room.
// A connection must authenticate within the auth timeout
// ([WithAuthTimeout]) and finish within the handshake timeout. A connection
// whose handshake fails is closed and reported to the reject hook
// ([WithRejectHook]; by default an aggregated log); Accept only ever
// returns established connections. A Listener owns one goroutine that
// accepts, one per handshake in progress and, without a reject hook, one
// that writes the log; Close joins them all.
type Listener struct {
	ln      net.Listener
	cfg     config
	upgrade func(ctx context.Context, nc net.Conn, cfg *config) (*Conn, error)
	gate    *gate
	log     *rejectLog // nil when the user set a reject hook

	conns  chan *Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newListener(ln net.Listener, cfg config, upgrade func(context.Context, net.Conn, *config) (*Conn, error)) *Listener {
	grace := evictAfter
	if cfg.authTimeout > 0 {
		grace = cfg.authTimeout / graceShare
	}
	l := &Listener{
		ln:      ln,
		cfg:     cfg,
		upgrade: upgrade,
		gate:    newGate(maxHandshakes, grace),
		conns:   make(chan *Conn),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if cfg.onReject == nil {
		l.log = newRejectLog(cfg.logger)
		l.wg.Go(func() { l.log.run(l.ctx) })
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// Addr returns the address the listener listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Accept waits for the next connection whose handshake succeeded,
// honouring ctx. After Close it returns an error matching [ErrClosed].
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		return nil, fmt.Errorf("%w: listener closed", ErrClosed)
	}
}

// Close stops listening, aborts the handshakes in progress, closes the
// connections no one accepted, writes the last line of the reject log, and
// returns once every goroutine of the listener has exited. Established
// connections are not affected.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
		if l.log != nil {
			l.log.flush()
		}
	})
	return err
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// A passing fault such as running out of file descriptors:
			// wait a little rather than spin.
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, time.Second)
			case <-l.ctx.Done():
				return
			}
			continue
		}
		backoff = 5 * time.Millisecond
		// Wait for a slot with nc in hand; the connections behind it wait
		// in the kernel's accept queue, in the order they came.
		p, ctx, err := l.gate.admit(l.ctx, nc.RemoteAddr(), l.cfg.authTimeout)
		if err != nil {
			nc.Close()
			return
		}
		l.wg.Add(1)
		go l.serve(ctx, nc, p)
	}
}

// serve runs one handshake and hands the connection to Accept.
func (l *Listener) serve(ctx context.Context, nc net.Conn, p *pending) {
	defer l.wg.Done()
	remote := nc.RemoteAddr()
	cfg := l.cfg
	cfg.pending = p
	c, err := l.upgrade(ctx, nc, &cfg)
	p.release()
	if err != nil {
		nc.Close()
		// A handshake that Close cut short is no rejection; one that had
		// failed by itself is reported even when Close follows at once (its
		// peer may already have seen the connection drop).
		if l.ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			l.reject(remote, err)
		}
		return
	}
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}

// reject reports a connection whose handshake failed.
func (l *Listener) reject(remote net.Addr, err error) {
	if l.log != nil {
		l.log.record(remote, err)
		return
	}
	l.cfg.onReject(remote, err)
}
