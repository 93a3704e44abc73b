package actor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/grove-rt/grove/transport"
)

// peerRole prefixes the role a peer announces in its Hello: the revision
// and the name of the registration it found ("peer:<rev>:<name>"), which
// say whose exposed functions it may call.
const peerRole = "peer:"

// roleOf is the role of a peer of the registration e.
func roleOf(e nameEntry) string {
	return peerRole + strconv.FormatUint(e.Rev, 10) + ":" + e.Name
}

// parseRole returns the revision and name a peer's role announces.
func parseRole(role string) (uint64, string, bool) {
	rest, ok := strings.CutPrefix(role, peerRole)
	if !ok {
		return 0, "", false
	}
	revs, name, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", false
	}
	rev, err := strconv.ParseUint(revs, 10, 64)
	return rev, name, err == nil && rev != 0
}

// A peerHost serves an actor's registrations to its peers: a private Unix
// socket (abstract on Linux), open while the actor has a registration,
// whose connections must come from this user (SO_PEERCRED) and prove the
// tree's secret; peers in the same process connect over an in-memory pipe
// instead. Its accept loop is its own goroutine, joined by remove and
// close; the connections it accepted are cut with the registration they
// were found through, by goroutines of its own (a connection's close waits
// for its calls, one of which may be the caller's), joined by wait.
type peerHost struct {
	sv *server

	mu      sync.Mutex
	closed  bool                        // the server has ended
	regs    map[string]*hosted          // by name
	conns   map[*transport.Conn]*hosted // the peers' connections, by the registration they found
	ln      *hostListener               // nil while no registration lives
	addr    string                      // ln's address
	cutting sync.WaitGroup              // the goroutines closing connections
}

// A hostListener is a peer host's socket, and the end of its accept loop:
// each socket's own, since a Register can open the next socket while the
// close of the last registration still joins the loop of the one before.
type hostListener struct {
	*transport.Listener
	done chan struct{} // closed once its accept loop has returned
}

// A hosted registration: what its peers may call.
type hosted struct {
	rev    uint64        // 0 until the registrar answered
	ready  chan struct{} // closed once rev is set, or the registration is gone
	done   bool          // ready is closed
	expose map[string]bool
}

// settle closes r.ready. h.mu is held.
func (r *hosted) settle() {
	if !r.done {
		r.done = true
		close(r.ready)
	}
}

// hostsInProcess are the peer hosts of this process by actor id, for peers
// in the same process: a fact about the process, like its actors.
var hostsInProcess sync.Map // string -> *peerHost

// listen makes sure the host serves, and returns the address peers in
// other processes dial ("" where there are no Unix sockets).
func (h *peerHost) listen(ctx context.Context, reg nameRegistry) (string, error) {
	h.mu.Lock()
	closed, addr, open := h.closed, h.addr, h.ln != nil
	if !closed && (open || !unixSockets) {
		hostsInProcess.Store(h.sv.id.ID, h) // under h.mu, so that close's Delete comes after
	}
	h.mu.Unlock()
	switch {
	case closed:
		return "", fmt.Errorf("actor %s has ended", h.sv.id)
	case open || !unixSockets:
		return addr, nil
	}
	key, err := treeSecret(ctx, reg)
	if err != nil {
		return "", fmt.Errorf("the tree's secret: %w", err)
	}
	addr = peerAddress(h.sv.id)
	tl, err := listenUnix(addr, h.options(key)...)
	if err != nil {
		return "", err
	}
	ln := &hostListener{Listener: tl, done: make(chan struct{})}
	h.mu.Lock()
	if h.closed || h.ln != nil { // ended meanwhile, or another Register won
		h.mu.Unlock()
		ln.Close()
		return h.listen(ctx, reg)
	}
	h.ln, h.addr = ln, addr
	hostsInProcess.Store(h.sv.id.ID, h)
	h.mu.Unlock()
	go h.acceptLoop(ln)
	return addr, nil
}

// options are the transport options of the host's side of a peer's
// connection.
func (h *peerHost) options(key []byte) []transport.Option {
	opts := []transport.Option{transport.WithIdentity(h.sv.id, "peer-host"), transport.WithHandler(h.handle),
		transport.WithBaseContext(h.sv.peerRoot)}
	if key != nil {
		opts = append(opts, transport.WithSecret(key))
	}
	return opts
}

func (h *peerHost) acceptLoop(ln *hostListener) {
	defer close(ln.done)
	for {
		c, err := ln.Accept(context.Background())
		if err != nil {
			return // closed
		}
		h.track(c)
	}
}

// track keeps c, so that it is cut with the registration it was found
// through; one found through none (it has gone meanwhile, or c names
// another revision of it) is cut now.
func (h *peerHost) track(c *transport.Conn) {
	rev, name, isPeer := parseRole(c.Peer().Role)
	h.mu.Lock()
	r := h.regs[name]
	if h.closed { // no call of c can be admitted: its close is quick
		h.mu.Unlock()
		c.Close()
		return
	}
	if !isPeer || r == nil || r.rev != 0 && r.rev != rev {
		h.cut(c)
		h.mu.Unlock()
		return
	}
	for o := range h.conns { // forget the peers that have gone
		if closed(o.Done()) {
			delete(h.conns, o)
		}
	}
	if h.conns == nil {
		h.conns = map[*transport.Conn]*hosted{}
	}
	h.conns[c] = r
	h.mu.Unlock()
}

// cut closes c in a goroutine of the host's. h.mu is held, and the host
// is not closed but by close itself: so no cut starts once close has
// returned, and wait, after it, joins every one.
func (h *peerHost) cut(c *transport.Conn) {
	h.cutting.Add(1)
	go func() {
		defer h.cutting.Done()
		c.Close()
	}()
}

// wait joins the goroutines that cut the host's connections, once it is
// closed: it waits for the peers' calls in flight to return.
func (h *peerHost) wait() { h.cutting.Wait() }

// add holds name for a registration on its way to the registrar.
func (h *peerHost) add(name string, expose []string) (*hosted, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("actor %s has ended", h.sv.id)
	}
	if o := h.regs[name]; o != nil {
		return nil, fmt.Errorf("%w: %q is registered by this actor (%s) already: keep that Registration, or Close it first",
			ErrNameTaken, name, h.sv.id)
	}
	r := &hosted{expose: map[string]bool{}, ready: make(chan struct{})}
	for _, fn := range expose {
		r.expose[fn] = true
	}
	if h.regs == nil {
		h.regs = map[string]*hosted{}
	}
	h.regs[name] = r
	return r, nil
}

// confirm records the revision the registrar gave.
func (h *peerHost) confirm(r *hosted, rev uint64) {
	h.mu.Lock()
	r.rev = rev
	r.settle()
	h.mu.Unlock()
}

// remove ends the registration r of name: the peers that found it are
// cut off (without waiting for their calls), and with the last
// registration the socket closes.
func (h *peerHost) remove(name string, r *hosted) {
	h.mu.Lock()
	if h.regs[name] != r {
		h.mu.Unlock()
		return
	}
	delete(h.regs, name)
	r.settle()
	for c, o := range h.conns {
		if o == r {
			h.cut(c)
			delete(h.conns, c)
		}
	}
	var ln *hostListener
	if len(h.regs) == 0 {
		ln, h.ln, h.addr = h.ln, nil, ""
		hostsInProcess.CompareAndDelete(h.sv.id.ID, h)
	}
	h.mu.Unlock()
	h.shut(ln)
}

// close ends every registration when the server ends, and cuts every
// peer's connection; wait joins the cuts.
func (h *peerHost) close() {
	h.mu.Lock()
	h.closed = true
	for _, r := range h.regs {
		r.settle()
	}
	h.regs = nil
	ln := h.ln
	h.ln, h.addr = nil, ""
	for c := range h.conns {
		h.cut(c)
	}
	h.conns = nil
	hostsInProcess.CompareAndDelete(h.sv.id.ID, h)
	h.mu.Unlock()
	h.shut(ln)
}

// shut closes a listener, joining its accept loop.
func (h *peerHost) shut(ln *hostListener) {
	if ln != nil {
		ln.Close()
		<-ln.done
	}
}

// handle serves one call of a peer: a function the registration it found
// exposes, run as a call of the actor (its stop cuts it, and waits for
// it), without the progress page, which counts only the parent's calls.
func (h *peerHost) handle(s *transport.Stream) {
	if !h.admit(s) {
		return
	}
	defer h.sv.leave(s.Func())
	serveCall(h.sv.peerRoot, s)
}

// admit checks the call against the registration its caller found, and
// enters the server, or fails the call. It is apart from handle, and not
// inlined, so that its frame (the refusals' formatting is large) is off
// the stack the function runs on: inlined, it made every peer call's
// goroutine grow its stack once more than a parent's call, about 4 µs.
//
//go:noinline
func (h *peerHost) admit(s *transport.Stream) bool {
	role := s.Peer().Role
	rev, name, isPeer := parseRole(role)
	h.mu.Lock()
	r := h.regs[name]
	pending := r != nil && r.rev == 0
	h.mu.Unlock()
	if pending { // found the moment the registrar answered, before Register saw it
		select {
		case <-r.ready:
		case <-s.Context().Done():
		}
		h.mu.Lock()
		if h.regs[name] != r {
			r = nil
		}
		h.mu.Unlock()
	}
	if r != nil && r.rev != rev {
		r = nil // another registration of the name: not the one it found
	}
	switch {
	case !isPeer:
		_ = s.Fail(context.Background(), errorInfo(h.sv.id, fmt.Errorf("%w: a peer of %s announced the role %q, not %q followed by the revision and the name it found",
			ErrNotExposed, h.sv.id, role, peerRole+"<rev>:"), ""))
		return false
	case r == nil:
		_ = s.Fail(context.Background(), errorInfo(h.sv.id, fmt.Errorf("%w: actor %s no longer lives under %q with revision %d",
			errUnregistered, h.sv.id, name, rev), ""))
		return false
	}
	if fn, ok := r.allows(s); !ok {
		_ = s.Fail(context.Background(), errorInfo(h.sv.id, fmt.Errorf("%w: %s, called by %s: %q, as %s registered it, exposes only %v "+
			"(list it in actor.Expose when registering)", ErrNotExposed, fn, s.Peer().Actor, name, h.sv.id, r.names()), ""))
		return false
	}
	if !h.sv.enter(s.Func()) {
		cause := context.Cause(h.sv.root)
		_ = s.Fail(context.Background(), errorInfo(h.sv.id, fmt.Errorf("%w: %s in %s was refused", cause, s.Func(), h.sv.id), ""))
		return false
	}
	return true
}

// allows reports whether the registration lets a peer make the call s,
// and which function it names: one it exposes, or a batch of one.
func (r *hosted) allows(s *transport.Stream) (string, bool) {
	fn := s.Func()
	if fn == batchFunc {
		var b batchCall
		if s.DecodeArgs(&b) != nil {
			return fn, false
		}
		fn = b.Func
	}
	return fn, !reserved(fn) && r.expose[fn]
}

func (r *hosted) names() []string {
	out := make([]string, 0, len(r.expose))
	for fn := range r.expose {
		out = append(out, fn)
	}
	return out
}

// A secretCache holds the tree's secret, which the connections of peers
// prove: the registrar's, fetched once per process. One caller fetches it;
// the others wait for that fetch, each bounded by its own ctx, and fetch
// it themselves if that one failed.
type secretCache struct {
	mu       sync.Mutex
	key      []byte
	fetching chan struct{} // closed when the fetch under way ends
}

// treeKey is this process's: the tree's secret is a fact of the process.
var treeKey secretCache

func treeSecret(ctx context.Context, reg nameRegistry) ([]byte, error) { return treeKey.get(ctx, reg) }

func (c *secretCache) get(ctx context.Context, reg nameRegistry) ([]byte, error) {
	for {
		c.mu.Lock()
		if c.key != nil {
			c.mu.Unlock()
			return c.key, nil
		}
		if wait := c.fetching; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		}
		done := make(chan struct{})
		c.fetching = done
		c.mu.Unlock()
		key, err := reg.secret(ctx)
		c.mu.Lock()
		if err == nil {
			c.key = key
		}
		c.fetching = nil
		close(done)
		c.mu.Unlock()
		return key, err
	}
}

// A peerLink is this process's connection to one registration of a peer,
// shared by every Ref found through it.
type peerLink struct {
	conn  *transport.Conn
	entry nameEntry

	// cutBy is set, before the link is closed, when the actor that found
	// the peer ended: its own end, not the peer's, ended the calls.
	cutBy   atomic.Pointer[error]
	goneErr atomic.Pointer[ActorGoneError] // once the connection has ended
}

// peerLinks are an actor's links to its peers, by revision: shared by
// the Refs it found, replaced at the next Find once its connection has
// ended, and closed when the actor ends.
type peerLinks struct {
	mu     sync.Mutex
	closed bool
	m      map[uint64]*peerLink
}

// dialPeer returns a peer Ref to the registration e, over the link of the
// actor whose code holds ctx, which it opens if there is none.
func dialPeer(ctx context.Context, reg nameRegistry, e nameEntry) (*Ref, error) {
	ls := &serverFor(ctx).links
	ls.mu.Lock()
	l := ls.m[e.Rev]
	ls.mu.Unlock()
	if l == nil || closed(l.conn.Done()) {
		c, err := connectPeer(ctx, reg, e)
		if err != nil {
			return nil, err
		}
		if l, err = ls.add(c, e); err != nil {
			return nil, err
		}
	}
	return &Ref{id: e.Actor, cfg: newConfig(nil), conn: l.conn, peer: l}, nil
}

// add keeps a new connection to e, unless another Find was quicker.
func (ls *peerLinks) add(c *transport.Conn, e nameEntry) (*peerLink, error) {
	ls.mu.Lock()
	if o := ls.m[e.Rev]; o != nil && !closed(o.conn.Done()) || ls.closed {
		ls.mu.Unlock()
		c.Close()
		if o == nil {
			return nil, errors.New("the actor that looked it up has ended")
		}
		return o, nil
	}
	if ls.m == nil {
		ls.m = map[uint64]*peerLink{}
	}
	for rev, o := range ls.m {
		if closed(o.conn.Done()) {
			delete(ls.m, rev)
		}
	}
	l := &peerLink{conn: c, entry: e}
	ls.m[e.Rev] = l
	ls.mu.Unlock()
	return l, nil
}

// close closes every link when the actor me ends, with cause: the calls
// on them fail with it.
func (ls *peerLinks) close(me transport.ActorID, cause error) {
	ls.mu.Lock()
	ls.closed = true
	m := ls.m
	ls.m = nil
	ls.mu.Unlock()
	for _, l := range m {
		err := fmt.Errorf("actor: the call on %s, found as %q, was cut by the end of %s, which found it: %w",
			l.entry.Actor, l.entry.Name, me, cause)
		l.cutBy.Store(&err)
		l.conn.Close()
	}
}

// connectPeer opens a connection to the registration e: over a pipe to
// its host if it lives in this process, else over its socket.
func connectPeer(ctx context.Context, reg nameRegistry, e nameEntry) (*transport.Conn, error) {
	me := transport.WithIdentity(identity(ctx), roleOf(e))
	if e.Actor.PID == os.Getpid() {
		if v, ok := hostsInProcess.Load(e.Actor.ID); ok {
			return pipeTo(ctx, v.(*peerHost), me)
		}
		if e.Addr == "" {
			return nil, fmt.Errorf("actor %s: %w", e.Actor, errHostGone)
		}
	}
	if e.Addr == "" {
		return nil, fmt.Errorf("actor %s: it serves no socket to peers, and does not live in this process", e.Actor)
	}
	key, err := treeSecret(ctx, reg)
	if err != nil {
		return nil, fmt.Errorf("the tree's secret: %w", err)
	}
	return dialUnix(ctx, e.Addr, me, transport.WithSecret(key))
}

// pipeTo connects to a host in this process.
func pipeTo(ctx context.Context, h *peerHost, me transport.Option) (*transport.Conn, error) {
	near, far := net.Pipe()
	type result struct {
		c   *transport.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := transport.NewConn(ctx, far, transport.Responder, h.options(nil)...)
		done <- result{c, err}
	}()
	c, err := transport.NewConn(ctx, near, transport.Initiator, me)
	res := <-done
	if err == nil {
		err = res.err
	}
	if err != nil {
		near.Close()
		far.Close()
		if c != nil {
			c.Close()
		}
		if res.c != nil {
			res.c.Close()
		}
		return nil, err
	}
	h.track(res.c)
	return c, nil
}

// errHostGone is the error of a dial of a registrant of this process
// whose host has ended: it has gone.
var errHostGone = errors.New("it has ended (its host is gone from this process)")

// dialGone reports whether a dial's failure means the registrant has gone:
// its socket refuses or is missing, or its host is gone from this process.
// Any other failure (out of descriptors, a handshake refused or timed out)
// says nothing of it, and is the caller's to see.
func dialGone(err error) bool {
	return errors.Is(err, errHostGone) || socketGone(err)
}

// gone is the error of every call on the link once its peer has gone (or
// is going: it answered so): how the actor ended, if its parent told the
// registrar within dropBound. Cached once the connection has ended; while
// it lives (the peer is stopping), nothing is waited for. When it was
// the end of the actor that found the peer that cut the link, that is the
// error instead.
func (l *peerLink) gone() error {
	if e := l.goneErr.Load(); e != nil {
		return e
	}
	if err := l.cutBy.Load(); err != nil {
		return *err
	}
	e := &ActorGoneError{Name: l.entry.Name, Actor: l.entry.Actor}
	if !closed(l.conn.Done()) {
		// It answered that it is going (its stop, its registration closed),
		// and lives on meanwhile: it has not died, there is no exit to wait
		// for.
		return e
	}
	e.Err = l.conn.Err()
	ctx, cancel := context.WithTimeout(context.Background(), dropBound)
	defer cancel()
	why, err := serverFor(context.Background()).names().gone(ctx, l.entry.Rev)
	if err != nil {
		return e
	}
	if why != nil {
		errors.As(remoteError(why), &e.Exit)
	}
	l.goneErr.CompareAndSwap(nil, e)
	return l.goneErr.Load()
}

// mustOwn panics, on a Ref from Find, for an operation only the actor's
// owner may perform.
func (r *Ref) mustOwn(op string) {
	if r.peer != nil {
		panic(fmt.Errorf("actor %s: %s on a Ref from Find: %w (end it through its own nursery, or Close the registration from within it)",
			r.id, op, ErrNotOwner))
	}
}
