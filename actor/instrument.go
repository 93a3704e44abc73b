package actor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/grove-rt/grove/transport"
)

// An Instrumentation observes this process's actors for tracing and
// metrics: their spawns and lives, and their calls on both sides. The
// otelgrove module implements it for OpenTelemetry; grove itself imports
// no telemetry package. Register one with [SetInstrumentation].
//
// Its methods are called on the goroutines of the spawns and calls they
// observe, concurrently: they must be safe for concurrent use and must not
// block. The functions they return are each called once, when what they
// observe has ended.
type Instrumentation interface {
	// Spawn is called when [Spawn] begins to start an actor, with the
	// spawner's ctx. The ctx it returns is not used yet (the spawn makes
	// no call under it, and the new process gets no trace context: its
	// calls carry their callers'). The function it returns is called once
	// the spawn has ended: with the actor, or with the spawn's error (and
	// the actor's name alone).
	Spawn(ctx context.Context, name string) (context.Context, func(a ActorInfo, err error))
	// ActorEnded is called once the task of an actor whose Spawn
	// succeeded has ended, with its error (nil for a stop).
	ActorEnded(a ActorInfo, err error)
	// Call is called on the caller's side when a call begins, with the
	// caller's ctx. The ctx it returns is the call's, and must derive from
	// ctx (the call ends with it): the metadata it carries
	// ([transport.ContextWithMetadata]) is sent with the Call. The
	// function it returns is called once the call has ended: for a stream
	// or duplex when its last item has been received, or when the
	// caller's Close or ctx ended it, or the actor's death.
	Call(ctx context.Context, c CallInfo) (context.Context, func(CallEnd))
	// Serve is called in the actor when a call arrives (one of a function
	// it never registered too, ended at once with ErrUnknownFunction),
	// with the call's ctx and the metadata its Call carried (nil for none). The ctx it
	// returns is the one the function runs under, and must derive from ctx,
	// whose cancellation (the caller's Cancel, the actor's stop) and values
	// the function needs. The function it returns is called once the call
	// has been answered.
	Serve(ctx context.Context, c CallInfo, md transport.Metadata) (context.Context, func(CallEnd))
}

// A Flusher is an [Instrumentation] that holds some of what it records
// before it exports it (spans and metrics exported in batches). A process
// spawned as an actor exits from [Main], where no deferred function of
// main runs (a provider's Shutdown, say): there Main calls Flush once the
// actor has served its last call, just before the process exits, with a
// ctx that ends 500ms later, so that the actor's last spans are not lost
// with it. Flush must return by then; its error is ignored.
type Flusher interface {
	Flush(ctx context.Context) error
}

// flushInstrumentation flushes the instrumentation, if it is a Flusher,
// before a process spawned as an actor exits.
func flushInstrumentation() {
	f, ok := GetInstrumentation().(Flusher)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), orphanExit)
	defer cancel()
	_ = f.Flush(ctx)
}

// ActorInfo identifies an actor to an [Instrumentation].
type ActorInfo struct {
	transport.ActorID
	// Backend is where the actor runs: [BackendProcess] or
	// [BackendGoroutine] ("" for an actor that was never started).
	Backend Backend
}

// A CallKind says which of the call forms a call is.
type CallKind string

// The call forms, as [CallInfo.Kind] names them.
const (
	CallKindUnary  CallKind = "unary"  // Function.Call, CallByName
	CallKindStream CallKind = "stream" // StreamFunction.Open
	CallKindDuplex CallKind = "duplex" // DuplexFunction.Open
	CallKindBatch  CallKind = "batch"  // StartBatch (pool.Map's batches)
)

// CallInfo describes a call to an [Instrumentation].
type CallInfo struct {
	// Func is the name of the function called. On the serving side it is
	// the name the Call asked for, which may be no function this actor
	// registered (the call then ends with [ErrUnknownFunction]): a
	// metric keyed on it must bound its names, as otelgrove's do.
	Func string
	// Kind is the call's form; on the serving side, where every form is
	// the same Call, CallKindUnary unless the function is a batch.
	Kind CallKind
	// Actor is the actor that runs the call: the callee on the caller's
	// side, this actor on the serving side.
	Actor ActorInfo
	// Peer is the caller, on the serving side (its Hello's identity).
	Peer transport.ActorID
}

// CallEnd is how a call ended, as an [Instrumentation] is told.
type CallEnd struct {
	// Err is the call's error, nil for success: on the caller's side what
	// the call returned (a [*RemoteError] for a remote failure, whose
	// Type names the remote error's type); on the serving side what the
	// function returned, or a *RemoteError of Type [PanicType].
	Err error
	// Items is the number of stream items this side received (the
	// caller's side of a stream or duplex) or sent (the serving side).
	Items int
}

// ErrorType names an error's type for telemetry (an "error.type"
// attribute), in few enough names to be a metric's attribute. It is the
// first type of err's tree (depth first, as errors.As looks) that says
// more than an error's text: the remote type of a [*RemoteError], or a Go
// type, as fmt's %T prints it ("*actor.ExitError"), passing over
// fmt.Errorf's wrappers, errors.Join's and errors.New's. With none, it is
// the sentinel err matches: "context.Canceled",
// "context.DeadlineExceeded", "actor.ErrStopped", a name registered with
// [RegisterError] (so also for a remote fmt.Errorf wrapper); else err's
// own type. It is "" for nil, and never the error's text. It costs an
// errors.Is per sentinel, on the error's path only.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	if t := typeIn(err, 0); t != "" {
		return t
	}
	if name := sentinelName(err); name != "" {
		return name
	}
	return fmt.Sprintf("%T", err)
}

// typeIn is the first type of err's tree that is not generic, or "".
func typeIn(err error, depth int) string {
	if err == nil || depth > 32 { // a tree that deep is a cycle, or hostile
		return ""
	}
	if re, ok := err.(*RemoteError); ok {
		if genericType(re.Type) && len(re.is) > 0 {
			return re.is[0]
		}
		return re.Type
	}
	if t := fmt.Sprintf("%T", err); !genericType(t) {
		return t
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return typeIn(u.Unwrap(), depth+1)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if t := typeIn(e, depth+1); t != "" {
				return t
			}
		}
	}
	return ""
}

// genericType reports whether an error of type t (as %T prints it) says
// nothing of its cause but its text.
func genericType(t string) bool {
	switch t {
	case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError", "context.deadlineExceededError":
		return true
	}
	return false
}

// ownSentinels are the sentinels of grove's calls that are not
// registered with RegisterError, by the names ErrorType gives them.
var ownSentinels = []struct {
	name string
	err  error
}{
	{"actor.ErrStopped", ErrStopped},
	{"actor.ErrNotStarted", ErrNotStarted},
	{"actor.ErrResultLost", ErrResultLost},
	{"actor.ErrStreamClosed", ErrStreamClosed},
	{"actor.ErrHostLost", ErrHostLost},
	{"actor.ErrHostUnavailable", ErrHostUnavailable},
	{"transport.ErrClosed", transport.ErrClosed},
	{"transport.ErrCanceled", transport.ErrCanceled},
	{"transport.ErrProtocol", transport.ErrProtocol},
	{"transport.ErrFrameTooLarge", transport.ErrFrameTooLarge},
}

// sentinelName is the name of the first sentinel err matches, grove's own
// first, then those registered; "" for none.
func sentinelName(err error) string {
	for _, s := range ownSentinels {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	if names := matchingSentinels(err); len(names) > 0 {
		return names[0]
	}
	return ""
}

// instrumentation is the process's one Instrumentation, or nil: the
// global that [SetInstrumentation] sets once, as OpenTelemetry's global
// providers are set once by a program's main.
var instrumentation atomic.Pointer[instrumented]

type instrumented struct{ Instrumentation }

// SetInstrumentation registers i as this process's instrumentation. Call
// it once, before the first Spawn and before [Main] (a process started as
// an actor must install it too: in an init function, or in main before
// Main, so that its calls are observed; one that does not ignores the
// metadata its calls carry); a second call, or a nil i, panics. Spawns and
// calls that began before it stay unobserved to their end (an actor
// spawned before it is never counted, nor its end); those that begin
// after it are observed. It is process-wide, as OpenTelemetry's global providers are:
// the spawns and calls that must see it are made by code that takes no
// option for it. With none registered, each call, stream and spawn pays
// one atomic load for it and allocates nothing.
func SetInstrumentation(i Instrumentation) {
	if i == nil {
		panic("actor: SetInstrumentation(nil): pass an Instrumentation (otelgrove.Install registers one)")
	}
	if !instrumentation.CompareAndSwap(nil, &instrumented{i}) {
		panic("actor: SetInstrumentation called twice: register the instrumentation once, in main or an init function")
	}
}

// GetInstrumentation returns the instrumentation [SetInstrumentation]
// registered, or nil. It costs one atomic load; the pool and supervise
// packages observe their own events through it, by the interfaces they
// define, which an Instrumentation may implement too. (It is named as the
// pair otel.SetTracerProvider and otel.GetTracerProvider are: the name
// Instrumentation is the interface's.)
func GetInstrumentation() Instrumentation {
	if p := instrumentation.Load(); p != nil {
		return p.Instrumentation
	}
	return nil
}

// backendOf names where r runs.
func (r *Ref) backendOf() Backend {
	if r.run != nil && r.inproc() {
		return BackendGoroutine
	}
	return BackendProcess
}

// info is r as an Instrumentation sees it.
func (r *Ref) info() ActorInfo {
	if r == nil {
		return ActorInfo{}
	}
	id := r.id
	if r.host != "" {
		id.Host = r.host
	}
	return ActorInfo{ActorID: id, Backend: r.backendOf()}
}

// observeCall tells the instrumentation, if any, of a call of fn on r
// beginning; done is nil when there is none (or ctx is nil, which the
// call itself refuses).
func observeCall(ctx context.Context, r *Ref, fn string, kind CallKind) (context.Context, func(CallEnd)) {
	p := instrumentation.Load()
	if p == nil || ctx == nil {
		return ctx, nil
	}
	return p.Call(ctx, CallInfo{Func: fn, Kind: kind, Actor: r.info()})
}

// observeSpawn tells the instrumentation, if any, of a spawn of name.
func observeSpawn(ctx context.Context, name string) (context.Context, func(ActorInfo, error)) {
	p := instrumentation.Load()
	if p == nil || ctx == nil {
		return ctx, nil
	}
	return p.Spawn(ctx, name)
}

// spawnedInfo is the actor a spawn of name started, or its name alone
// when the spawn failed.
func spawnedInfo(name string, r *Ref, err error) ActorInfo {
	if err != nil || r == nil {
		return ActorInfo{ActorID: transport.ActorID{Name: name}}
	}
	return r.info()
}

// observeEnd tells the instrumentation, if any, of r's end.
func observeEnd(r *Ref, err error) {
	if p := instrumentation.Load(); p != nil {
		p.ActorEnded(r.info(), err)
	}
}

// itemsKey marks the ctx of a served call whose items are counted: its
// value is a *atomic.Int64.
type itemsKey struct{}

// observeServe tells the instrumentation, if any, of a call me serves.
func observeServe(ctx context.Context, me transport.ActorID, s *transport.Stream) (context.Context, func(CallEnd), *atomic.Int64) {
	p := instrumentation.Load()
	if p == nil {
		return ctx, nil, nil
	}
	kind := CallKindUnary
	if s.Func() == batchFunc {
		kind = CallKindBatch
	}
	backend := BackendProcess
	if me.PID == self.PID && me.ID != self.ID {
		backend = BackendGoroutine
	}
	ctx, done := p.Serve(ctx, CallInfo{Func: s.Func(), Kind: kind, Actor: ActorInfo{ActorID: me, Backend: backend},
		Peer: s.Peer().Actor}, s.Metadata())
	items := new(atomic.Int64)
	return context.WithValue(ctx, itemsKey{}, items), done, items
}

// countedItems returns the counter of the items a served call sends, or
// nil when none counts them: looked up once a stream, not once an item.
func countedItems(ctx context.Context) *atomic.Int64 {
	if instrumentation.Load() == nil {
		return nil
	}
	c, _ := ctx.Value(itemsKey{}).(*atomic.Int64)
	return c
}
