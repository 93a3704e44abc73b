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
	// spawner's ctx; the ctx it returns is the spawn's. The function it
	// returns is called once the spawn has ended: with the actor, or with
	// the spawn's error (and the actor's name alone).
	Spawn(ctx context.Context, name string) (context.Context, func(a ActorInfo, err error))
	// ActorEnded is called once the task of an actor whose Spawn
	// succeeded has ended, with its error (nil for a stop).
	ActorEnded(a ActorInfo, err error)
	// Call is called on the caller's side when a call begins, with the
	// caller's ctx. The ctx it returns is the call's: the metadata it
	// carries ([transport.ContextWithMetadata]) is sent with the Call. The
	// function it returns is called once the call has ended.
	Call(ctx context.Context, c CallInfo) (context.Context, func(CallEnd))
	// Serve is called in the actor when a call arrives, with the call's
	// ctx and the metadata its Call carried (nil for none). The ctx it
	// returns is the one the function runs under. The function it returns
	// is called once the call has been answered.
	Serve(ctx context.Context, c CallInfo, md transport.Metadata) (context.Context, func(CallEnd))
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
	// Func is the name of the function called.
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
// attribute): the remote type of a [*RemoteError] in its chain, else the
// Go type of err, as fmt's %T prints it; "" for nil.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Type
	}
	return fmt.Sprintf("%T", err)
}

// instrumentation is the process's one Instrumentation, or nil: the
// global that [SetInstrumentation] sets once, as OpenTelemetry's global
// providers are set once by a program's main.
var instrumentation atomic.Pointer[instrumented]

type instrumented struct{ Instrumentation }

// SetInstrumentation registers i as this process's instrumentation. Call
// it once, before the first Spawn and before [Main] (a process started as
// an actor must install it too: in an init function, or in main before
// Main, so that its calls are observed); a second call, or a nil i,
// panics. It is process-wide, as OpenTelemetry's global providers are:
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
// define, which an Instrumentation may implement too.
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
