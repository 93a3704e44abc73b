// Package supervise gives grove Erlang/OTP's supervisors, built on nurseries:
// a Supervisor starts a list of children, watches them, restarts them by a
// Strategy when they end, and gives up, stopping them all, when they fail
// more often than its Spec allows.
//
// The rules, in short (OTP's, on nurseries):
//
//   - Each child runs in a sub-nursery of its own, so restarting it cancels
//     exactly its subtree, its actors included (see ActorChild).
//   - A failure is a non-nil error that is not the supervisor's own
//     cancellation: a returned error, a *nursery.PanicError, an actor's
//     *actor.ExitError. Permanent children are restarted whenever they end,
//     Transient ones only after a failure, Temporary ones never.
//   - Children start in list order; a child with Start is ready (it called
//     started) before the next one starts. OneForAll and RestForOne stop the
//     affected children in reverse order, each stopped and returned (bounded
//     by its Shutdown) before the next is stopped, and restart them in order.
//   - More than Intensity restarts within Period (default: 1 in 5 s, as OTP)
//     stops every child in reverse order and returns a *GaveUpError, which
//     escalates through the enclosing nursery like any failure.
//   - Cancelling the supervisor's ctx stops the children in reverse order and
//     Run returns ctx's error. A supervisor whose children have all ended
//     normally, none to be restarted, returns nil.
//
// One goroutine, the supervisor's loop, owns all of its state; children
// report their end to it over a channel, and StartChild and TerminateChild
// are requests it answers between two steps (ErrReentrant while it is blocked
// inside one); Which reads a copy it publishes. Every goroutine the package
// starts is joined before Run returns.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// Strategy says which children a supervisor restarts when one of them ends
// and is to be restarted.
type Strategy int

const (
	// OneForOne restarts only the child that ended.
	OneForOne Strategy = iota
	// OneForAll stops every other child (in reverse order) and restarts them
	// all in order, except Temporary ones, which stay ended.
	OneForAll
	// RestForOne stops the children started after the one that ended (in
	// reverse order) and restarts it and them in order, except Temporary
	// ones, which stay ended.
	RestForOne
)

// Restart says when a child that ended is restarted.
type Restart int

const (
	// Permanent children are restarted whenever they end.
	Permanent Restart = iota
	// Transient children are restarted only after a failure.
	Transient
	// Temporary children are never restarted, not even when a sibling's
	// restart under OneForAll or RestForOne stops them.
	Temporary
)

// NoRestarts, as Spec.Intensity, makes a supervisor give up at the first
// restart it would make.
const NoRestarts = -1

// The defaults of Spec: OTP's intensity of 1 restart in 5 seconds, and the
// Shutdown of a child that does not set one (OTP's 5 s for a worker).
const (
	DefaultIntensity = 1
	DefaultPeriod    = 5 * time.Second
	DefaultShutdown  = 5 * time.Second
)

var (
	// ErrGaveUp is matched by every *GaveUpError.
	ErrGaveUp = errors.New("supervise: gave up")
	// ErrUnknownChild is returned by TerminateChild for a name the
	// supervisor does not have.
	ErrUnknownChild = errors.New("supervise: no child of that name")
	// ErrEnded is returned by the methods of a Supervisor whose loop has
	// returned.
	ErrEnded = errors.New("supervise: the supervisor has ended")
	// ErrReentrant is returned by StartChild and TerminateChild when the
	// supervisor's loop is itself blocked in a step: waiting for a child to
	// start or stop, in Backoff's delay, or calling Backoff or OnEvent. A
	// call from such a child, Backoff or OnEvent would wait for itself
	// forever; one from elsewhere may simply be retried.
	ErrReentrant = errors.New("supervise: called while the supervisor is starting or stopping a child or in Backoff/OnEvent " +
		"(a child calling it before it is ready or while it stops, Backoff and OnEvent must not wait for the supervisor): call it from elsewhere, or retry")
)

// errStopping is the cause with which the supervisor cancels a child it stops.
var errStopping = errors.New("supervise: child stopped by its supervisor")

// GaveUpError is the error of a supervisor that saw more than its Intensity
// of restarts within its Period. It matches ErrGaveUp, and errors.Is/As reach
// Last, the failure that made it give up.
type GaveUpError struct {
	Child    string        // the child whose end was one restart too many
	Restarts int           // the restarts made within Period before it
	Period   time.Duration // the spec's period
	Last     error         // that child's error (nil for a normal end)
}

// Error says which child made the supervisor give up, and why.
func (e *GaveUpError) Error() string {
	return fmt.Sprintf("supervise: gave up: child %q ended after %d restarts within %v: %v",
		e.Child, e.Restarts, e.Period, e.Last)
}

// Is reports whether target is ErrGaveUp.
func (e *GaveUpError) Is(target error) bool { return target == ErrGaveUp }

// Unwrap returns Last.
func (e *GaveUpError) Unwrap() error { return e.Last }

// Child describes one child of a supervisor. Set exactly one of Run and Start.
// Its ctx carries the values of the supervisor's ctx but not its
// cancellation: the supervisor cancels its children itself, one by one in
// reverse order, when it stops them.
type Child struct {
	// Name identifies the child; names are unique within a supervisor.
	Name    string
	Restart Restart
	// Run is the child's body; the child counts as started at once.
	Run func(ctx context.Context) error
	// Start is the body of a child that must be ready before the next child
	// starts: the supervisor waits until it calls started (as nursery.Start
	// and OTP's synchronous init).
	Start func(ctx context.Context, started func()) error
	// Shutdown bounds how long a stop waits for the child to return after
	// its ctx was cancelled before the supervisor goes on (DefaultShutdown
	// when 0). The child is still joined before the supervisor returns.
	Shutdown time.Duration
}

// Spec describes a supervisor.
type Spec struct {
	Strategy Strategy
	// Intensity is the number of restarts allowed within Period
	// (DefaultIntensity when 0; NoRestarts for none).
	Intensity int
	// Period is the sliding window of Intensity (DefaultPeriod when 0).
	Period   time.Duration
	Children []Child
	// Backoff, if set, gives the delay before the restart-th restart of a
	// child (1 for its first). It is called by the supervisor's loop: while
	// it runs and while the delay lasts, StartChild and TerminateChild fail
	// with ErrReentrant (Which still answers); a cancellation ends the wait.
	Backoff func(restart int) time.Duration
	// OnEvent, if set, is called by the supervisor's loop for every event.
	// It must return quickly; StartChild and TerminateChild called from it
	// fail with ErrReentrant (Which answers, as of the event; setting
	// OnEvent costs one copy of the children's states per event).
	OnEvent func(Event)
}

// EventKind is what happened to a child.
type EventKind int

const (
	// Started: the child has started (a Start child called started).
	Started EventKind = iota
	// Failed: the child ended with an error (Event.Err).
	Failed
	// Restarted: the child is being started again (Event.Restarts counts it).
	Restarted
	// GaveUp: the supervisor gives up (Event.Err is the *GaveUpError).
	GaveUp
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case Started:
		return "started"
	case Failed:
		return "failed"
	case Restarted:
		return "restarted"
	case GaveUp:
		return "gave up"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is reported to Spec.OnEvent.
type Event struct {
	Kind     EventKind
	Child    string
	Err      error
	Restarts int // the child's restarts so far
}

// ChildState is where a child is in its life.
type ChildState int

const (
	// Running: the child's body is running.
	Running ChildState = iota
	// Restarting: the child is to be started again (its start failed, or a
	// sibling's restart is under way).
	Restarting
	// Ended: the child ended and is not to be restarted.
	Ended
)

// String names the state.
func (s ChildState) String() string {
	switch s {
	case Running:
		return "running"
	case Restarting:
		return "restarting"
	case Ended:
		return "ended"
	}
	return fmt.Sprintf("ChildState(%d)", int(s))
}

// ChildInfo describes a child, as Which reports it.
type ChildInfo struct {
	Name     string
	State    ChildState
	Restarts int
	// Actor is the child's current actor if it is a running ActorChild.
	Actor *actor.Ref
}

// Supervisor is a running supervisor started with Start. StartChild and
// TerminateChild are requests to its loop: each waits until the loop is
// between two steps (a restart with its stops and starts, or a backoff, is
// one step), or fails with ErrReentrant if the loop is blocked inside one
// (waiting for a child to start or stop, in a backoff, or in Backoff or
// OnEvent), since the call may come from what it waits for. Which never
// waits.
type Supervisor struct {
	l *loop
}

// Run runs a supervisor in the calling goroutine until it gives up (a
// *GaveUpError), ctx is cancelled (ctx's error, once every child is stopped),
// a child fails to start at first (an error naming it), or every child has
// ended normally with none to restart (nil). A spec with no children waits
// for ctx. A spec that is wrong (a child without Run or Start, or with both;
// a duplicate or empty name) is an error that says so.
func Run(ctx context.Context, spec Spec) error {
	l, err := newLoop(spec)
	if err != nil {
		return err
	}
	return l.run(ctx, func() {})
}

// Start runs a supervisor as a task of n and returns once its children have
// started, so that the returned Supervisor can be asked to StartChild,
// TerminateChild and Which. The supervisor's end is its task's: a
// *GaveUpError fails n and cancels its other tasks. A child that fails to
// start at first is returned by Start and does not fail n.
func Start(n *nursery.Nursery, spec Spec) (*Supervisor, error) {
	l, err := newLoop(spec)
	if err != nil {
		return nil, err
	}
	return l.runIn(n)
}

// runIn runs l as a task of n and returns once its children have started.
func (l *loop) runIn(n *nursery.Nursery) (*Supervisor, error) {
	_, err := nursery.Start(n, func(ctx context.Context, started func(struct{})) error {
		return l.run(ctx, func() { started(struct{}{}) })
	})
	if err != nil {
		return nil, err
	}
	return &Supervisor{l: l}, nil
}

// StartChild adds c at the end of the supervisor's children and starts it,
// returning once it is ready. A child that fails before it is ready is not
// added and its error is returned; so is a name already in use. It waits for
// the loop's current step, or fails with ErrReentrant (see Supervisor).
func (s *Supervisor) StartChild(c Child) error {
	var err error
	if e := s.do(func(l *loop) { err = l.startChild(c) }); e != nil {
		return e
	}
	return err
}

// TerminateChild stops the child called name (bounded by its Shutdown) and
// removes it from the supervisor, whatever its Restart. An unknown name gives
// ErrUnknownChild. If every remaining child has ended, none to restart, the
// supervisor then ends with nil. It waits for the loop's current step, or
// fails with ErrReentrant (see Supervisor).
func (s *Supervisor) TerminateChild(name string) error {
	var err error
	if e := s.do(func(l *loop) { err = l.terminate(name) }); e != nil {
		return e
	}
	return err
}

// Which describes the supervisor's children in order; nil once it has ended.
// It never waits for the loop: it copies what the loop last published (after
// its last step, or as it began waiting for a backoff). A child's start or
// stop is published before the child runs or sees its cancel, and what a
// StartChild or TerminateChild did before it returns: a restarted child that
// runs is counted, and a terminated child is gone from Which at once, even
// one still running past its Shutdown.
// Called from OnEvent it sees the supervisor as of the event: a child that
// failed is already Restarting (or Ended), a restarted one is Restarting with
// the event's Restarts until its Started.
func (s *Supervisor) Which() []ChildInfo {
	select {
	case <-s.l.quit:
		return nil
	default:
	}
	p := s.l.info.Load()
	if p == nil {
		return nil
	}
	out := make([]ChildInfo, 0, len(*p))
	for _, c := range *p {
		ci := c.ChildInfo
		if c.inst != nil {
			ci.Actor = c.inst.ref.Load() // live: set as the actor is spawned
		}
		out = append(out, ci)
	}
	return out
}

// published is a child as the loop last published it for Which.
type published struct {
	ChildInfo
	inst *instance
}

// request is a call of the Supervisor's, run by the loop.
type request struct {
	run  func(*loop)
	err  error // set instead of running, ErrReentrant
	done chan struct{}
}

// do runs f in the loop and waits for it; ErrEnded once the loop has
// returned, ErrReentrant if the loop is blocked in a step.
func (s *Supervisor) do(f func(*loop)) error {
	if s.l.inCallback.Load() {
		return ErrReentrant // called by Backoff or OnEvent, on the loop itself
	}
	req := &request{run: f, done: make(chan struct{})}
	select {
	case s.l.reqs <- req:
	case <-s.l.quit:
		return ErrEnded
	}
	<-req.done // the loop runs f to its end, or refuses it, before anything else
	return req.err
}

// Validate checks a child's description.
func validate(c Child, names map[string]bool) error {
	switch {
	case c.Name == "":
		return errors.New("supervise: a child has no Name: give each child a unique one")
	case names[c.Name]:
		return fmt.Errorf("supervise: two children are called %q: names must be unique", c.Name)
	case (c.Run == nil) == (c.Start == nil):
		return fmt.Errorf("supervise: child %q: set exactly one of Run and Start", c.Name)
	}
	return nil
}

func newLoop(spec Spec) (*loop, error) {
	l := &loop{
		spec:      spec,
		intensity: spec.Intensity,
		period:    spec.Period,
		exits:     make(chan *instance),
		reqs:      make(chan *request),
		quit:      make(chan struct{}),
	}
	if l.intensity == 0 {
		l.intensity = DefaultIntensity
	} else if l.intensity < 0 {
		l.intensity = 0
	}
	if l.period <= 0 {
		l.period = DefaultPeriod
	}
	names := map[string]bool{}
	for _, c := range spec.Children {
		if err := validate(c, names); err != nil {
			return nil, err
		}
		names[c.Name] = true
		l.children = append(l.children, &child{spec: c})
	}
	return l, nil
}

// loop is the supervisor's state, owned by the goroutine running run.
type loop struct {
	spec      Spec
	intensity int
	period    time.Duration

	ctx  context.Context // the supervisor's
	base context.Context // ctx without its cancellation: children's parent

	children []*child
	restarts []time.Time // within the last period
	pending  []*instance // exits received but not yet handled

	exits chan *instance // children report their end here
	reqs  chan *request  // the Supervisor's requests
	quit  chan struct{}  // closed when run returns
	wg    sync.WaitGroup // every child goroutine

	info       atomic.Pointer[[]published] // for Which
	inCallback atomic.Bool                 // the loop is in Backoff or OnEvent

	// Set by internal tests only, to widen a window: answered is called by
	// the loop right after it answered a request, before its next step;
	// launched right after it started an incarnation's goroutine.
	answered func()
	launched func(*child)
}

type child struct {
	spec     Child
	inst     *instance // the current incarnation, nil if none runs
	state    ChildState
	restarts int
}

// instance is one incarnation of a child: one goroutine, one sub-nursery.
type instance struct {
	c        *child
	cancel   context.CancelCauseFunc
	ready    chan struct{}
	err      error // written by the goroutine before it reports its end
	exited   bool  // the loop received its end
	stopping bool  // the loop stopped it: its end is not a failure
	ref      atomic.Pointer[actor.Ref]
}

type instKey struct{}

func (l *loop) event(kind EventKind, c *child, err error) {
	if l.spec.OnEvent != nil {
		l.publish() // a Which from OnEvent sees the supervisor as of the event
		l.inCallback.Store(true)
		defer l.inCallback.Store(false)
		l.spec.OnEvent(Event{Kind: kind, Child: c.spec.Name, Err: err, Restarts: c.restarts})
	}
}

// backoff calls Spec.Backoff.
func (l *loop) backoff(restart int) time.Duration {
	l.inCallback.Store(true)
	defer l.inCallback.Store(false)
	return l.spec.Backoff(restart)
}

// refuse answers a request that came while the loop is blocked in a step.
func refuse(req *request) {
	req.err = ErrReentrant
	close(req.done)
}

// publish makes the children's state what Which reports.
func (l *loop) publish() {
	info := make([]published, 0, len(l.children))
	for _, c := range l.children {
		info = append(info, published{ChildInfo{Name: c.spec.Name, State: c.state, Restarts: c.restarts}, c.inst})
	}
	l.info.Store(&info)
}

// allEnded reports whether the supervisor has children, all ended.
func (l *loop) allEnded() bool {
	for _, o := range l.children {
		if o.state != Ended {
			return false
		}
	}
	return len(l.children) > 0
}

func (l *loop) run(ctx context.Context, ready func()) (err error) {
	l.ctx, l.base = ctx, context.WithoutCancel(ctx)
	defer func() {
		l.stopAll()
		close(l.quit)
		l.wg.Wait()
	}()
	for _, c := range l.children {
		if inst, ok := l.start(c); !ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("supervise: child %q failed to start: %w", c.spec.Name, startErr(inst))
		}
	}
	ready()
	for {
		for len(l.pending) > 0 {
			inst := l.pending[0]
			l.pending = l.pending[1:]
			if done, err := l.handleExit(inst); done {
				return err
			}
		}
		l.publish()
		select {
		case inst := <-l.exits:
			inst.exited = true
			l.pending = append(l.pending, inst)
		case req := <-l.reqs:
			req.run(l)
			l.publish() // Which shows what the request did once it has returned
			close(req.done)
			if l.answered != nil {
				l.answered()
			}
			if l.allEnded() { // TerminateChild removed the last one running
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func startErr(inst *instance) error {
	if inst == nil || inst.err == nil {
		return nursery.ErrNotStarted
	}
	return inst.err
}

// start starts an incarnation of c and waits until it is ready. It reports
// false, with the incarnation, if that ended first (or ctx was cancelled).
func (l *loop) start(c *child) (*instance, bool) {
	ctx, cancel := context.WithCancelCause(l.base)
	inst := &instance{c: c, cancel: cancel, ready: make(chan struct{})}
	ctx = context.WithValue(ctx, instKey{}, inst)
	c.inst, c.state = inst, Running
	l.publish() // before the child runs: what it does may be seen before the loop goes on
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		inst.err = nursery.Run(ctx, func(ctx context.Context, _ *nursery.Nursery) error {
			if c.spec.Run != nil {
				close(inst.ready)
				return c.spec.Run(ctx)
			}
			var once sync.Once
			return c.spec.Start(ctx, func() { once.Do(func() { close(inst.ready) }) })
		})
		cancel(nil)
		select {
		case l.exits <- inst:
		case <-l.quit:
		}
	}()
	if l.launched != nil {
		l.launched(c)
	}
	for {
		select {
		case req := <-l.reqs:
			refuse(req)
		case <-inst.ready:
			l.event(Started, c, nil)
			return inst, true
		case e := <-l.exits:
			e.exited = true
			if e != inst {
				l.pending = append(l.pending, e)
				continue
			}
			select {
			case <-inst.ready: // ready, then ended at once: handle the end later
				l.pending = append(l.pending, e)
				l.event(Started, c, nil)
				return inst, true
			default:
			}
			c.inst, c.state = nil, Restarting
			if inst.err == nil { // returned nil before calling started
				inst.err = fmt.Errorf("supervise: child %q returned before calling started: %w", c.spec.Name, nursery.ErrNotStarted)
			}
			return inst, false
		case <-l.ctx.Done():
			return inst, false
		}
	}
}

// stop cancels c's incarnation and waits, bounded by its Shutdown, until it
// has returned.
func (l *loop) stop(c *child) {
	inst := c.inst
	if inst == nil {
		return
	}
	c.inst = nil
	l.publish() // before the child sees its cancel, as in start
	inst.stopping = true
	inst.cancel(errStopping)
	if inst.exited {
		return
	}
	d := c.spec.Shutdown
	if d <= 0 {
		d = DefaultShutdown
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case req := <-l.reqs:
			refuse(req)
		case e := <-l.exits:
			e.exited = true
			if e == inst {
				return
			}
			l.pending = append(l.pending, e)
		case <-t.C:
			return // still joined before run returns
		}
	}
}

func (l *loop) stopAll() {
	for i := len(l.children) - 1; i >= 0; i-- {
		l.stop(l.children[i])
	}
}

// handleExit applies the restart rules to an incarnation that ended. done
// means the supervisor ends with err.
func (l *loop) handleExit(inst *instance) (done bool, err error) {
	c := inst.c
	if inst.stopping || c.inst != inst {
		return false, nil // stopped by us, or stale
	}
	c.inst = nil
	if l.ctx.Err() != nil {
		return true, l.ctx.Err()
	}
	restart := c.spec.Restart == Permanent || (c.spec.Restart == Transient && inst.err != nil)
	c.state = Ended
	if restart {
		c.state = Restarting
	}
	if inst.err != nil {
		l.event(Failed, c, inst.err)
	}
	if !restart {
		return l.allEnded(), nil
	}
	now := time.Now()
	kept := l.restarts[:0]
	for _, t := range l.restarts {
		if now.Sub(t) < l.period {
			kept = append(kept, t)
		}
	}
	l.restarts = kept
	if len(l.restarts) >= l.intensity {
		c.state = Ended // not to be restarted: the supervisor gives up
		e := &GaveUpError{Child: c.spec.Name, Restarts: len(l.restarts), Period: l.period, Last: inst.err}
		l.event(GaveUp, c, e)
		return true, e
	}
	l.restarts = append(l.restarts, now)
	// The children to restart, in order.
	var set []*child
	for i, o := range l.children {
		switch {
		case o == c:
			set = append(set, o)
		case o.state == Ended:
		case l.spec.Strategy == OneForAll:
			set = append(set, o)
		case l.spec.Strategy == RestForOne && i > l.index(c):
			set = append(set, o)
		}
	}
	for i := len(set) - 1; i >= 0; i-- {
		if set[i].inst != nil {
			set[i].state = Restarting // as stop publishes it
			l.stop(set[i])
		}
	}
	var failed []*instance
	for _, o := range set {
		if o.spec.Restart == Temporary { // stopped with the group, never restarted (OTP)
			o.state = Ended
			continue
		}
		o.restarts++
		if l.spec.Backoff != nil {
			if !l.wait(l.backoff(o.restarts)) {
				return true, l.ctx.Err()
			}
		}
		restarted := l.observeRestart(o)
		l.event(Restarted, o, nil)
		inst, ok := l.start(o)
		restarted(inst, ok)
		if !ok {
			if l.ctx.Err() != nil {
				return true, l.ctx.Err()
			}
			// A failed start is a failure like any other, handled next,
			// once the rest of the group is started again.
			o.inst = inst
			failed = append(failed, inst)
		}
	}
	l.pending = append(failed, l.pending...)
	return false, nil
}

func (l *loop) index(c *child) int {
	for i, o := range l.children {
		if o == c {
			return i
		}
	}
	return -1
}

// wait waits d, receiving exits meanwhile; false if ctx was cancelled.
func (l *loop) wait(d time.Duration) bool {
	if d <= 0 {
		return l.ctx.Err() == nil
	}
	l.publish()
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case req := <-l.reqs:
			refuse(req)
		case e := <-l.exits:
			e.exited = true
			l.pending = append(l.pending, e)
		case <-t.C:
			return true
		case <-l.ctx.Done():
			return false
		}
	}
}

func (l *loop) startChild(c Child) error {
	names := map[string]bool{}
	for _, o := range l.children {
		names[o.spec.Name] = true
	}
	if err := validate(c, names); err != nil {
		return err
	}
	ch := &child{spec: c}
	l.children = append(l.children, ch)
	if inst, ok := l.start(ch); !ok {
		l.stop(ch) // cut short by ctx: it still runs
		l.children = l.children[:len(l.children)-1]
		if l.ctx.Err() != nil {
			return l.ctx.Err()
		}
		return fmt.Errorf("supervise: child %q failed to start: %w", c.Name, startErr(inst))
	}
	return nil
}

func (l *loop) terminate(name string) error {
	for i, c := range l.children {
		if c.spec.Name == name {
			l.stop(c)
			l.children = append(l.children[:i:i], l.children[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownChild, name)
}

// ActorChild is a child that spawns an actor called name with opts in its
// own sub-nursery and runs body against it. It is ready once the actor's
// handshake completed; when body returns the actor is stopped, and the
// child ends with body's error, or with the actor's *actor.ExitError if it
// died. A restart spawns a new actor (a new process on the process backend);
// the old one has been reaped by then.
func ActorChild(name string, restart Restart, opts []actor.Option, body func(ctx context.Context, ref *actor.Ref) error) Child {
	return Child{Name: name, Restart: restart, Start: func(ctx context.Context, started func()) error {
		inst, _ := ctx.Value(instKey{}).(*instance)
		return nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, name, opts...)
			if err != nil {
				return err
			}
			if inst != nil {
				inst.ref.Store(ref)
			}
			started()
			err = body(ctx, ref)
			n.Cancel(nil)
			return err
		})
	}}
}
