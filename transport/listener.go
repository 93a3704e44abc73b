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
// one slow, silent or hostile client never delays the others. A connection
// whose handshake fails is closed and reported to the reject hook
// ([WithRejectHook]); Accept only ever returns established connections.
type Listener struct {
	ln      net.Listener
	cfg     config
	upgrade func(ctx context.Context, nc net.Conn) (*Conn, error)

	conns  chan *Conn
	slots  chan struct{} // handshakes in progress, at most maxHandshakes
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newListener(ln net.Listener, cfg config, upgrade func(context.Context, net.Conn) (*Conn, error)) *Listener {
	l := &Listener{
		ln:      ln,
		cfg:     cfg,
		upgrade: upgrade,
		conns:   make(chan *Conn),
		slots:   make(chan struct{}, maxHandshakes),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
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
// connections no one accepted, and returns once every goroutine of the
// listener has exited. Established connections are not affected.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
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
		select {
		case l.slots <- struct{}{}:
		default:
			nc.Close()
			l.cfg.onReject(nc.RemoteAddr(), fmt.Errorf("%w: more than %d handshakes in progress", ErrHandshake, maxHandshakes))
			continue
		}
		l.wg.Add(1)
		go l.serve(nc)
	}
}

// serve runs one handshake and hands the connection to Accept.
func (l *Listener) serve(nc net.Conn) {
	defer l.wg.Done()
	remote := nc.RemoteAddr()
	c, err := l.upgrade(l.ctx, nc)
	<-l.slots
	if err != nil {
		nc.Close()
		if l.ctx.Err() == nil {
			l.cfg.onReject(remote, err)
		}
		return
	}
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}
