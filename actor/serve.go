package actor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grove-rt/grove/transport"
)

// errEnded is the cause with which an actor's serving side cancels its
// calls when it ends for any reason but its parent's stop message (whose
// cause is [ErrStopped]): SIGTERM, its parent going away, its parent's kill
// on the goroutine backend. A call that returns its ctx's error then
// carries it, so that the parent does not take the answer for its caller's
// own cancel, and reports instead how the actor ended (Ref.answerError).
var errEnded = errors.New("actor: the actor was ending before the call could finish")

func init() { RegisterError("actor.errEnded", errEnded) }

// Causes of the end of a server, each matching errEnded.
var (
	errTerminated    = fmt.Errorf("%w: SIGTERM", errEnded)
	errParentGone    = fmt.Errorf("%w: its parent's end of the link is gone", errEnded)
	errEndedByParent = fmt.Errorf("%w: its parent ended it", errEnded)
)

// A server is the actor's side of its link, on either backend: it runs the
// calls its parent makes, and when the actor stops it refuses new calls and
// lets those in flight send their answers before the link is closed.
type server struct {
	id     transport.ActorID
	root   context.Context // the actor's calls derive from it; it holds the server
	cancel context.CancelCauseFunc
	// peerRoot is root without the progress page, which counts only the
	// parent's calls: the base of the calls of peers ([Find]).
	peerRoot context.Context

	link   atomic.Pointer[transport.Conn] // the link to the parent, once established
	linked chan struct{}                  // closed once link is set
	host   peerHost                       // the registrations it serves to peers
	links  peerLinks                      // its connections to the peers it found
	top    bool                           // the root process's: it holds the registrar
	queue  batchGate                      // the batches queued behind others (StartBatch)

	started time.Time // when it began serving, for Tree's uptime
	backend Backend   // what it runs as: process (the root's too) or goroutine
	kids    kids      // the actors spawned from its code, for Tree

	mu     sync.Mutex
	calls  int            // calls in flight
	byFunc map[string]int // calls in flight by function, for Tree
	closed bool           // stopping: new calls are refused
	idle   chan struct{}  // closed once closed and no call is in flight
	grace  time.Duration  // the parent's grace period, from its stop message
}

func newServer(parent context.Context, id transport.ActorID) *server {
	sv := &server{id: id, idle: make(chan struct{}), grace: DefaultGrace, linked: make(chan struct{}),
		started: time.Now(), backend: BackendProcess, byFunc: map[string]int{}}
	sv.root, sv.cancel = context.WithCancelCause(context.WithValue(parent, serverKey{}, sv))
	sv.peerRoot = context.WithValue(sv.root, progressKey{}, (*progress)(nil))
	sv.host.sv = sv
	return sv
}

type serverKey struct{}

// setLink records the link to the parent, once it is established.
func (sv *server) setLink(c *transport.Conn) {
	sv.link.Store(c)
	close(sv.linked)
}

// The server of this process: the actor process's, once Main serves its
// parent, or the root process's, which has no link and serves only its
// registrations to peers. Both are facts about the process.
var (
	mainServer     atomic.Pointer[server]
	rootServerOnce sync.Once
	theRootServer  *server
)

// serverFor returns the server of the actor whose code holds ctx: the one
// whose call ctx derives from, else this process's.
func serverFor(ctx context.Context) *server {
	if sv, ok := ctx.Value(serverKey{}).(*server); ok {
		return sv
	}
	if sv := mainServer.Load(); sv != nil {
		return sv
	}
	rootServerOnce.Do(func() {
		theRootServer = newServer(context.Background(), self)
		theRootServer.top = true
		theRootServer.started = processStart
	})
	return theRootServer
}

// names is the registry of the server's actor: the link to its parent,
// which leads to the root's registrar, or that registrar in the root.
func (sv *server) names() nameRegistry {
	switch {
	case sv.top && startedAsActor:
		// Only Main's server has the link to the parent, and so the tree.
		return noRegistry{}
	case sv.top:
		return rootRegistrar()
	}
	return uplink{sv}
}

// handle is the link's handler: one call from the parent.
func (sv *server) handle(s *transport.Stream) {
	if s.Func() == stopFunc {
		var grace time.Duration
		if err := s.DecodeArgs(&grace); err == nil && grace > 0 {
			sv.mu.Lock()
			sv.grace = grace
			sv.mu.Unlock()
		}
		sv.cancel(ErrStopped) // the calls' ctx: cancelled, with ErrStopped as the cause
		_ = s.Return(context.Background(), nil)
		return
	}
	if debugFunc(s.Func()) { // answered while stopping too, and not counted
		serveCall(sv.peerRoot, s)
		return
	}
	if !sv.enter(s.Func()) {
		me := identity(sv.root)
		cause := context.Cause(sv.root) // ErrStopped, or the end's cause
		_ = s.Fail(context.Background(), errorInfo(me, fmt.Errorf("%w: %s in %s was refused", cause, s.Func(), me), ""))
		return
	}
	defer sv.leave(s.Func())
	serveCall(sv.root, s)
}

// enter counts a call of fn in flight, unless the server is stopping.
func (sv *server) enter(fn string) bool {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.closed {
		return false
	}
	sv.calls++
	sv.byFunc[fn]++
	return true
}

// leave counts the end of a call of fn.
func (sv *server) leave(fn string) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.calls--
	if sv.byFunc[fn]--; sv.byFunc[fn] <= 0 {
		delete(sv.byFunc, fn) // bounded by the calls in flight, not by the names ever called
	}
	if sv.closed && sv.calls == 0 {
		close(sv.idle)
	}
}

// gracePeriod is how long a stopped actor lets its calls finish: what its
// parent's stop message said, or DefaultGrace.
func (sv *server) gracePeriod() time.Duration {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.grace
}

// settle refuses new calls and waits until those in flight have sent their
// answers (queued on the link, which Close then flushes), until limit, cut
// or gone fires (a nil channel never does). It cancels the calls first,
// with cause, if the stop message has not.
func (sv *server) settle(cause error, limit <-chan struct{}, cut <-chan os.Signal, gone <-chan struct{}) {
	sv.cancel(cause)
	sv.mu.Lock()
	if !sv.closed {
		sv.closed = true
		if sv.calls == 0 {
			close(sv.idle)
		}
	}
	sv.mu.Unlock()
	select {
	case <-sv.idle:
	case <-limit:
	case <-cut:
	case <-gone:
	}
}

// after returns a channel closed once d has passed, for any number of
// receivers.
func after(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}
