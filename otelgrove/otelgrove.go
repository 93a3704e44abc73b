package otelgrove

import (
	"context"
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
	PoolKey      = attribute.Key("grove.pool.name")    // the pool's worker name
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
// otel.GetTextMapPropagator() for the global one.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.props = p }
}

// Install instruments this process's actors, calls, streams, pools and
// supervisors with OpenTelemetry: it registers otelgrove with
// [actor.SetInstrumentation]. Call it once, before the first Spawn and
// before actor.Main (a process started as an actor runs the same main, so
// it installs otelgrove too and its spans join the caller's trace); a
// second call panics. The spans and metrics are those of the package doc.
func Install(opts ...Option) {
	actor.SetInstrumentation(newInstrumentation(opts...))
}

// newInstrumentation builds what Install registers.
func newInstrumentation(opts ...Option) *instrumentation {
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.props == nil {
		c.props = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	meter := c.mp.Meter(ScopeName)
	i := &instrumentation{tracer: c.tp.Tracer(ScopeName), props: c.props}
	// A meter's instruments fail only on an invalid name or unit, which
	// these are not; the no-op instrument then stands in, as otel's
	// contrib instrumentations do.
	i.calls, _ = meter.Int64Counter("grove.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Calls ended, by function, side and error type."))
	i.duration, _ = meter.Float64Histogram("grove.call.duration", metric.WithUnit("s"),
		metric.WithDescription("The duration of calls, by function and side."))
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

	calls    metric.Int64Counter
	duration metric.Float64Histogram
	live     metric.Int64UpDownCounter
	items    metric.Int64Counter
	pools    pools
	deaths   metric.Int64Counter
	restarts metric.Int64Counter
}

var _ actor.Instrumentation = (*instrumentation)(nil)

// actorAttrs are the attributes naming a.
func actorAttrs(a actor.ActorInfo) []attribute.KeyValue {
	kv := []attribute.KeyValue{ActorNameKey.String(a.Name)}
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
	ctx, span := i.tracer.Start(ctx, "grove.spawn", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(ActorNameKey.String(name)))
	return ctx, func(a actor.ActorInfo, err error) {
		span.SetAttributes(actorAttrs(a)...)
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
	attrs := append([]attribute.KeyValue{rpcSystemKey.String("grove"), rpcMethodKey.String(c.Func),
		CallKindKey.String(string(c.Kind))}, actorAttrs(c.Actor)...)
	ctx, span := i.tracer.Start(ctx, c.Func, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	md := transport.Metadata{}
	for k, v := range transport.MetadataFromContext(ctx) {
		md[k] = v
	}
	i.props.Inject(ctx, carrier(md))
	ctx = transport.ContextWithMetadata(ctx, md)
	return ctx, i.ender(span, c, "client")
}

// Serve implements actor.Instrumentation: a server span, a child of the
// span whose context the Call carried.
func (i *instrumentation) Serve(ctx context.Context, c actor.CallInfo, md transport.Metadata) (context.Context, func(actor.CallEnd)) {
	if len(md) > 0 {
		ctx = i.props.Extract(ctx, carrier(md))
	}
	attrs := append([]attribute.KeyValue{rpcSystemKey.String("grove"), rpcMethodKey.String(c.Func),
		CallKindKey.String(string(c.Kind)), PeerNameKey.String(c.Peer.Name), PeerIDKey.String(c.Peer.ID)}, actorAttrs(c.Actor)...)
	ctx, span := i.tracer.Start(ctx, c.Func, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, i.ender(span, c, "server")
}

// ender returns the function that ends a call's span and counts it.
func (i *instrumentation) ender(span trace.Span, c actor.CallInfo, side string) func(actor.CallEnd) {
	start := time.Now()
	return func(e actor.CallEnd) {
		if c.Kind != actor.CallKindUnary || e.Items > 0 {
			span.SetAttributes(ItemsKey.Int(e.Items))
		}
		fail(span, e.Err)
		span.End()
		kv := []attribute.KeyValue{rpcMethodKey.String(c.Func), SideKey.String(side)}
		if e.Err != nil {
			kv = append(kv, errorTypeKey.String(actor.ErrorType(e.Err)))
		}
		set := metric.WithAttributeSet(attribute.NewSet(kv...))
		bg := context.Background()
		i.calls.Add(bg, 1, set)
		i.duration.Record(bg, time.Since(start).Seconds(), set)
		if e.Items > 0 {
			i.items.Add(bg, int64(e.Items), set)
		}
	}
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
