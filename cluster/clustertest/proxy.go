package clustertest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// A proxy is the fault proxy in front of one server for one host (scaleout
// design §10.2): a loopback listener that forwards every connection to its
// server. Blackhole stops forwarding both ways and keeps the sockets open
// (a partition: what was sent waits, as TCP's retransmissions would, and
// arrives after Pass); Reset closes both sockets of every connection.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup // the accept loop and the pumps

	mu     sync.Mutex
	gate   chan struct{} // closed while forwarding
	conns  map[*pair]struct{}
	closed bool
}

// pair is one proxied connection: the client's socket and the server's.
type pair struct {
	client, server net.Conn
	done           chan struct{}
	once           sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		close(p.done)
		_ = p.client.Close()
		_ = p.server.Close()
	})
}

// dialTimeout bounds the proxy's dial of its server.
const dialTimeout = 2 * time.Second

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("clustertest: fault proxy listener: %w", err)
	}
	gate := make(chan struct{})
	close(gate)
	p := &proxy{ln: ln, target: target, gate: gate, conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// URL is the proxy's client URL.
func (p *proxy) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		s, err := net.DialTimeout("tcp", p.target, dialTimeout)
		if err != nil {
			_ = c.Close()
			continue
		}
		pr := &pair{client: c, server: s, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pr.close()
			return
		}
		p.conns[pr] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pump(pr, c, s)
		go p.pump(pr, s, c)
	}
}

// pump forwards src to dst while the gate is open; at the end of either
// direction it closes the pair (NATS never half-closes).
func (p *proxy) pump(pr *pair, src, dst net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, pr)
		p.mu.Unlock()
		pr.close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		// What was read, or the end, passes only through an open gate:
		// a blackholed connection keeps its sockets open.
		if !p.wait(pr) {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait returns true once the gate is open, false if pr was closed first.
func (p *proxy) wait(pr *pair) bool {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
		return true
	case <-pr.done:
		return false
	}
}

// blackhole stops forwarding; pass resumes it.
func (p *proxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already blackholed
	}
}

func (p *proxy) pass() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// reset closes both sockets of every current connection; new connections
// are accepted as before.
func (p *proxy) reset() {
	p.mu.Lock()
	prs := make([]*pair, 0, len(p.conns))
	for pr := range p.conns {
		prs = append(prs, pr)
	}
	p.mu.Unlock()
	for _, pr := range prs {
		pr.close()
	}
}

// close stops the listener, closes every connection and joins the
// proxy's goroutines.
func (p *proxy) close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.reset()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
