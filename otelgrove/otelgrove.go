package otelgrove

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/transport"
)

// ScopeName is the instrumentation scope of otelgrove's tracer and meter.
const ScopeName = "github.com/grove-rt/grove/otelgrove"

// Version returns otelgrove's version, the version of its instrumentation
// scope: its module's version as the build recorded it
// (runtime/debug.ReadBuildInfo), "(devel)" when otelgrove is the main
// module, or "" for a build that recorded none. Install reads it once.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if bi.Main.Path == ScopeName {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == ScopeName {
			return d.Version
		}
	}
	return ""
}

// durationBuckets are the bounds of grove.call.duration's buckets, in
// seconds: OpenTelemetry's advice for RPC and HTTP durations (0.005 s to
// 10 s), below it the sub-millisecond calls of a local actor. The SDK's
// default buckets (0 to 10000) are for milliseconds.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
	0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// The attribute keys otelgrove sets, beside OpenTelemetry's own
// rpc.system, rpc.method and error.type.
const (
	ActorNameKey = attribute.Key("grove.actor.name") // the actor's name
	ActorIDKey   = attribute.Key("grove.actor.id")   // its unique id
	ActorPIDKey  = attribute.Key("grove.actor.pid")  // its process id
	HostKey      = attribute.Key("grove.host")       // its host in a cluster, when it has one
	BackendKey   = attribute.Key("grove.backend")    // "process" or "goroutine"
	CallKindKey  = attribute.Key("grove.call.kind")  // "unary", "stream", "duplex" or "batch"
	PeerNameKey  = attribute.Key("grove.peer.name")  // the caller, on the serving side
	PeerIDKey    = attribute.Key("grove.peer.id")
	ItemsKey     = attribute.Key("grove.stream.items") // the stream items a side received or sent
	SideKey      = attribute.Key("grove.call.side")    // "client" or "server", on the call metrics
	ChildKey     = attribute.Key("grove.supervise.child")
	RestartsKey  = attribute.Key("grove.supervise.restarts")

	rpcSystemKey = attribute.Key("rpc.system")
	rpcMethodKey = attribute.Key("rpc.method")
	errorTypeKey = attribute.Key("error.type")
)

// An Option configures [Install].
type Option func(*config)

type config struct {
	tp    trace.TracerProvider
	mp    metric.MeterProvider
	props propagation.TextMapPropagator
}

// WithTracerProvider records spans with tp instead of the global
// provider (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider records metrics with mp instead of the global
// provider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithPropagators carries the trace context across calls with p instead
// of the default, W3C trace context and baggage; pass
// otel.GetTextMapPropagator() for the global one. Unlike otelhttp's, the
// default is not the global propagator: both ends of a grove call are
// otelgrove, and a child that sets no global one (otel's is a no-op
// until set) must still join its caller's trace.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.props = p }
}

// Install instruments this process's actors, calls, streams, pools and
// supervisors with OpenTelemetry: it registers otelgrove with
// [actor.SetInstrumentation]. Call it once, before the first Spawn and
// before actor.Main (a process started as an actor runs the same main, so
// it installs otelgrove too and its spans join the caller's trace); a
// second call panics. The spans and metrics are those of the package doc.
// In a process spawned as an actor, Main exits the process without
// running main's deferred calls: it flushes the providers first
// ([actor.Flusher]), so that a batching exporter keeps the actor's spans.
func Install(opts ...Option) {
	actor.SetInstrumentation(newInstrumentation(opts...))
}

// newInstrumentation builds what Install registers.
func newInstrumentation(opts ...Option) *instrumentation {
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	i := &instrumentation{flushTP: c.tp, flushMP: c.mp}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.props == nil {
		c.props = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	i.props = c.props
	version := Version()
	meter := c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(version))
	i.tracer = c.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(version))
	// A meter's instruments fail only on an invalid name or unit, which
	// these are not; the no-op instrument then stands in, as otel's
	// contrib instrumentations do.
	i.calls, _ = meter.Int64Counter("grove.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Calls ended, by function, side and error type."))
	i.duration, _ = meter.Float64Histogram("grove.call.duration", metric.WithUnit("s"),
		metric.WithDescription("The duration of calls, by function and side."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	i.live, _ = meter.Int64UpDownCounter("grove.actors.live", metric.WithUnit("{actor}"),
		metric.WithDescription("Actors this process spawned that are running, by backend."))
	i.items, _ = meter.Int64Counter("grove.stream.items", metric.WithUnit("{item}"),
		metric.WithDescription("Stream items received (client) or sent (server)."))
	i.pools.depths = map[*func() int]struct{}{}
	_, _ = meter.Int64ObservableGauge("grove.pool.queue.depth", metric.WithUnit("{task}"),
		metric.WithDescription("Tasks queued in this process's pools, not yet started."),
		metric.WithInt64Callback(i.pools.observe))
	i.deaths, _ = meter.Int64Counter("grove.pool.worker.deaths", metric.WithUnit("{worker}"),
		metric.WithDescription("Pool workers that died."))
	i.restarts, _ = meter.Int64Counter("grove.supervise.restarts", metric.WithUnit("{restart}"),
		metric.WithDescription("Children restarted by supervisors."))
	return i
}

// instrumentation implements actor.Instrumentation, and pool's and
// supervise's (pool.go).
type instrumentation struct {
	tracer trace.Tracer
	props  propagation.TextMapPropagator
	// flushTP and flushMP are the providers of the options, nil for the
	// global ones, which Flush looks up when it runs (a program may set
	// them after Install).
	flushTP trace.TracerProvider
	flushMP metric.MeterProvider

	calls    metric.Int64Counter
	duration metric.Float64Histogram
	live     metric.Int64UpDownCounter
	items    metric.Int64Counter
	series   cache[seriesKey, *seriesOpts]
	tasks    cache[string, *taskOpts] // pool.go
	pools    pools
	deaths   metric.Int64Counter
	restarts metric.Int64Counter
}

var (
	_ actor.Instrumentation = (*instrumentation)(nil)
	_ actor.Flusher         = (*instrumentation)(nil)
)

// Flush implements actor.Flusher: it exports the spans and metrics the
// providers hold (with their ForceFlush, which the SDK's have) before a
// process spawned as an actor exits, so that a batching exporter does not
// lose the actor's last spans.
func (i *instrumentation) Flush(ctx context.Context) error {
	tp, mp := i.flushTP, i.flushMP
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	var errs []error
	for _, p := range []any{tp, mp} {
		if f, ok := p.(interface{ ForceFlush(context.Context) error }); ok {
			errs = append(errs, f.ForceFlush(ctx))
		}
	}
	return errors.Join(errs...)
}

// The span kinds' options, built once: an option is an allocation.
var (
	clientKind   = trace.WithSpanKind(trace.SpanKindClient)
	serverKind   = trace.WithSpanKind(trace.SpanKindServer)
	internalKind = trace.WithSpanKind(trace.SpanKindInternal)
)

// actorAttrsMax is the most attributes appendActorAttrs appends.
const actorAttrsMax = 5

// appendActorAttrs appends to kv the attributes naming a.
func appendActorAttrs(kv []attribute.KeyValue, a actor.ActorInfo) []attribute.KeyValue {
	kv = append(kv, ActorNameKey.String(a.Name))
	if a.ID != "" {
		kv = append(kv, ActorIDKey.String(a.ID), ActorPIDKey.Int(a.PID))
	}
	if a.Host != "" {
		kv = append(kv, HostKey.String(a.Host))
	}
	if a.Backend != "" {
		kv = append(kv, BackendKey.String(string(a.Backend)))
	}
	return kv
}

// fail marks span with err, if any: recorded as an exception event, the
// status Error, and error.type.
func fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(errorTypeKey.String(actor.ErrorType(err)))
}

// Spawn implements actor.Instrumentation: a span for the spawn.
func (i *instrumentation) Spawn(ctx context.Context, name string) (context.Context, func(actor.ActorInfo, error)) {
	// The name is an attribute, not part of the span's: a pool's workers
	// are named pool-worker-1, -2, ... without end.
	ctx, span := i.tracer.Start(ctx, "grove.spawn", internalKind,
		trace.WithAttributes(ActorNameKey.String(name)))
	return ctx, func(a actor.ActorInfo, err error) {
		span.SetAttributes(appendActorAttrs(make([]attribute.KeyValue, 0, actorAttrsMax), a)...)
		fail(span, err)
		span.End()
		if err == nil {
			i.live.Add(context.Background(), 1, metric.WithAttributes(BackendKey.String(string(a.Backend))))
		}
	}
}

// ActorEnded implements actor.Instrumentation: one live actor fewer.
func (i *instrumentation) ActorEnded(a actor.ActorInfo, _ error) {
	i.live.Add(context.Background(), -1, metric.WithAttributes(BackendKey.String(string(a.Backend))))
}

// Call implements actor.Instrumentation: a client span, whose context
// goes on the Call's metadata.
func (i *instrumentation) Call(ctx context.Context, c actor.CallInfo) (context.Context, func(actor.CallEnd)) {
	ctx, span := i.tracer.Start(ctx, c.Func, clientKind, trace.WithAttributes(callAttrs(c, false)...))
	own := transport.MetadataFromContext(ctx)
	md := make(transport.Metadata, len(own)+3)
	for k, v := range own {
		md[k] = v
	}
	i.props.Inject(ctx, carrier(md))
	if !fits(md) {
		// A trace must not fail the call it observes: W3C baggage may
		// have 8192 bytes, the bound of the whole metadata. The trace
		// context goes before the baggage, and the caller's own before
		// both (the call says what is wrong with it, if anything).
		delete(md, "baggage")
		span.AddEvent("otelgrove: the baggage is left off the Call: with the trace context it is over transport.MaxMetadataBytes")
		if !fits(md) {
			md = own
		}
	}
	ctx = transport.ContextWithMetadata(ctx, md)
	return ctx, i.ender(span, c, "client")
}

// fits reports whether md is within a Call's bounds.
func fits(md transport.Metadata) bool {
	if len(md) > transport.MaxMetadataEntries {
		return false
	}
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	return n <= transport.MaxMetadataBytes
}

// Serve implements actor.Instrumentation: a server span, a child of the
// span whose context the Call carried.
func (i *instrumentation) Serve(ctx context.Context, c actor.CallInfo, md transport.Metadata) (context.Context, func(actor.CallEnd)) {
	if len(md) > 0 {
		ctx = i.props.Extract(ctx, carrier(md))
	}
	ctx, span := i.tracer.Start(ctx, c.Func, serverKind, trace.WithAttributes(callAttrs(c, true)...))
	return ctx, i.ender(span, c, "server")
}

// callAttrs are a call's span attributes, in one allocation: those of
// the client's side, and the caller's for the server's.
func callAttrs(c actor.CallInfo, server bool) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 5+actorAttrsMax)
	kv = append(kv, rpcSystemKey.String("grove"), rpcMethodKey.String(c.Func), CallKindKey.String(string(c.Kind)))
	if server {
		kv = append(kv, PeerNameKey.String(c.Peer.Name), PeerIDKey.String(c.Peer.ID))
	}
	return appendActorAttrs(kv, c.Actor)
}

// ender returns the function that ends a call's span and counts it.
// (It takes the function's name and kind, not the CallInfo, which its
// closure would move to the heap.)
func (i *instrumentation) ender(span trace.Span, c actor.CallInfo, side string) func(actor.CallEnd) {
	start := time.Now()
	fn, kind := c.Func, c.Kind
	return func(e actor.CallEnd) {
		if kind != actor.CallKindUnary || e.Items > 0 {
			span.SetAttributes(ItemsKey.Int(e.Items))
		}
		fail(span, e.Err)
		span.End()
		o := i.seriesOf(fn, side, e.Err)
		bg := context.Background()
		i.calls.Add(bg, 1, o.add...)
		i.duration.Record(bg, time.Since(start).Seconds(), o.record...)
		if e.Items > 0 {
			i.items.Add(bg, int64(e.Items), o.add...)
		}
	}
}

// maxCached bounds the entries a [cache] keeps: beyond it, what it
// would keep is built for each use. Its keys are functions' names, as
// rpc.method is, and as few.
const maxCached = 1024

// cache keeps what is built once per function rather than once per call
// (an attribute set and the options holding it, a span's name): each is
// an allocation a call would otherwise make.
type cache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

// get returns k's entry, built by build if it has none.
func (c *cache[K, V]) get(k K, build func() V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[K]V{}
	}
	if len(c.m) < maxCached {
		c.m[k] = v
	}
	return v
}

type seriesKey struct{ fn, side string }

// seriesOpts are the options of a series of the call metrics, for Add
// and for Record.
type seriesOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// otherMethod is rpc.method on the metrics of a call of a function the
// actor has not registered.
const otherMethod = "_OTHER"

// seriesOf returns the options of fn's series on side, for a call that
// ended with err: kept for those that succeed, built for a failure
// (error.type is one more attribute).
func (i *instrumentation) seriesOf(fn, side string, err error) *seriesOpts {
	if errors.Is(err, actor.ErrUnknownFunction) {
		// The name a caller asked for, registered nowhere: any text, as
		// many as callers send. Metrics get OpenTelemetry's name for a
		// method not known (an HTTP method's "_OTHER"); the span keeps it.
		fn = otherMethod
	}
	build := func() *seriesOpts {
		kv := []attribute.KeyValue{rpcSystemKey.String("grove"), rpcMethodKey.String(fn), SideKey.String(side)}
		if err != nil {
			kv = append(kv, errorTypeKey.String(actor.ErrorType(err)))
		}
		set := metric.WithAttributeSet(attribute.NewSet(kv...))
		return &seriesOpts{add: []metric.AddOption{set}, record: []metric.RecordOption{set}}
	}
	if err != nil {
		return build()
	}
	return i.series.get(seriesKey{fn, side}, build)
}

// carrier is a Call's metadata as a propagation.TextMapCarrier.
type carrier transport.Metadata

// Get implements propagation.TextMapCarrier.
func (c carrier) Get(key string) string { return c[key] }

// Set implements propagation.TextMapCarrier.
func (c carrier) Set(key, value string) { c[key] = value }

// Keys implements propagation.TextMapCarrier.
func (c carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
