package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// evictAfter is how long a pending handshake is safe from eviction with
// the default auth timeout: long enough for a legitimate peer to prove
// itself over a link of up to about 50 ms round trip (TLS) or 100 ms
// (plain) even on a loaded machine, short enough that a full listener
// takes in maxHandshakes new connections every evictAfter whatever holds
// its slots. A Listener scales it with its auth timeout (graceShare).
const evictAfter = 100 * time.Millisecond

// graceShare is the auth timeout's ratio to the grace before eviction.
const graceShare = DefaultAuthTimeout / evictAfter

// errEvicted is the cause of a handshake dropped to make room.
var errEvicted = errors.New("dropped to make room: the listener was full and this was the oldest unauthenticated handshake from its address")

// A gate bounds a Listener's handshakes in progress. It never refuses a new
// connection: when every slot is taken, the newcomer waits (and the ones
// behind it wait in the kernel's accept queue, in order) until a slot
// frees or an unauthenticated handshake has held its slot for the grace;
// then the oldest unauthenticated handshake of the address that holds the
// most is dropped. A peer that knows the secret proves itself within a
// round trip or two and is then never evicted, so a flood of silent or
// trickling sockets, from any number of addresses, costs a legitimate
// client at most its turn in the queue; and a flood from one address never
// evicts a handshake from an address with fewer pending.
type gate struct {
	max   int
	grace time.Duration // how long a handshake is safe from eviction
	room  chan struct{} // a slot was released (capacity 1)

	evicted func() // test hook: runs after an eviction, with g.mu released

	mu      sync.Mutex
	n       int                   // handshakes holding a slot
	sources map[string][]*pending // unauthenticated ones by address, oldest first
}

// A pending handshake, holding one slot of its gate.
type pending struct {
	g        *gate
	source   string
	admitted time.Time
	authBy   time.Time // when it must have proved itself; zero: no bound
	cancel   context.CancelCauseFunc
	queued   bool // in g.sources; under g.mu
}

func newGate(max int, grace time.Duration) *gate {
	return &gate{max: max, grace: grace, room: make(chan struct{}, 1), sources: make(map[string][]*pending)}
}

// sourceOf is the address a connection counts against: the IPv4 address,
// or the /64 of an IPv6 one (what one host usually holds); every Unix
// socket peer counts as one.
func sourceOf(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return string(ip4)
	}
	return string(ta.IP.Mask(net.CIDRMask(64, 128)))
}

// admit waits for a slot for a connection from remote, evicting a stale
// unauthenticated handshake if it must, and returns the pending handshake,
// whose ctx (derived from ctx) is cancelled when it is evicted. authTimeout
// bounds the time it may stay unauthenticated (0: no bound). admit fails
// only when ctx ends.
func (g *gate) admit(ctx context.Context, remote net.Addr, authTimeout time.Duration) (*pending, context.Context, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		g.mu.Lock()
		if g.n < g.max {
			p := &pending{g: g, source: sourceOf(remote), admitted: time.Now(), queued: true}
			if authTimeout > 0 {
				p.authBy = p.admitted.Add(authTimeout)
			}
			var pctx context.Context
			pctx, p.cancel = context.WithCancelCause(ctx)
			g.n++
			g.sources[p.source] = append(g.sources[p.source], p)
			g.mu.Unlock()
			return p, pctx, nil
		}
		victim, wait := g.victim(time.Now())
		if victim != nil {
			// Cancelled under g.mu, so that eviction and proved are decided
			// once: a handshake whose proved returned with its ctx alive is
			// never evicted. Cancelling takes no lock of the gate (an
			// AfterFunc runs on a goroutine of its own). Its slot comes
			// back when it has ended.
			g.dequeue(victim)
			victim.cancel(errEvicted)
			wait = -1
		}
		g.mu.Unlock()
		if victim != nil && g.evicted != nil {
			g.evicted()
		}
		var expired <-chan time.Time
		if wait >= 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			expired = timer.C
		}
		select {
		case <-g.room:
		case <-expired:
		case <-ctx.Done():
			return nil, nil, context.Cause(ctx)
		}
	}
}

// victim returns the handshake to evict now: the oldest unauthenticated one
// of the address with the most, among those that have held a slot for the
// grace. Without one it returns how long until there is one, or -1 if
// no handshake is unauthenticated. g.mu is held.
func (g *gate) victim(now time.Time) (*pending, time.Duration) {
	var best *pending
	bestLen := 0
	wait := time.Duration(-1)
	for _, q := range g.sources {
		oldest := q[0]
		age := now.Sub(oldest.admitted)
		if age < g.grace {
			if w := g.grace - age; wait < 0 || w < wait {
				wait = w
			}
			continue
		}
		if len(q) > bestLen || len(q) == bestLen && oldest.admitted.Before(best.admitted) {
			best, bestLen = oldest, len(q)
		}
	}
	return best, wait
}

// dequeue takes p out of its address's queue of unauthenticated
// handshakes. g.mu is held.
func (g *gate) dequeue(p *pending) {
	if !p.queued {
		return
	}
	p.queued = false
	q := g.sources[p.source]
	for i, o := range q {
		if o == p {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(g.sources, p.source)
	} else {
		g.sources[p.source] = q
	}
}

// proved marks p authenticated: it can no longer be evicted. When it
// returns, p's ctx has either already ended by eviction or will never be
// ended by it. It is safe on a nil p (a connection that is not a
// Listener's).
func (p *pending) proved() {
	if p == nil {
		return
	}
	p.g.mu.Lock()
	p.g.dequeue(p)
	p.g.mu.Unlock()
}

// release gives p's slot back, once its handshake has ended either way.
func (p *pending) release() {
	p.cancel(nil)
	g := p.g
	g.mu.Lock()
	g.dequeue(p)
	g.n--
	g.mu.Unlock()
	select {
	case g.room <- struct{}{}:
	default:
	}
}

// authDeadline returns when p must have proved itself, or the zero time.
// It is safe on a nil p.
func (p *pending) authDeadline() time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.authBy
}
