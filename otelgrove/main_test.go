package otelgrove_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/otelgrove"
)

// spansEnv names the file a child process of a test appends its finished
// spans to, one JSON line each: the test reads them back once the tree
// has ended (every child exited, so every write is done).
const spansEnv = "OTELGROVE_TEST_SPANS"

// The test process's recorders: its own spans (and, on the goroutine
// backend, its actors'), and its metrics.
var (
	recorder = tracetest.NewSpanRecorder()
	reader   = sdkmetric.NewManualReader()
	tracer   trace.Tracer
)

func TestMain(m *testing.M) {
	if path := os.Getenv(spansEnv); path != "" { // only the children have it: see spawnOpts
		// A child: its spans go to the file, and it installs otelgrove
		// before Main, as every program that serves actors must.
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(&fileExporter{path: path}))
		otelgrove.Install(otelgrove.WithTracerProvider(tp))
	} else {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
		tracer = tp.Tracer("test")
		otelgrove.Install(otelgrove.WithTracerProvider(tp),
			otelgrove.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	}
	actor.Main()
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}

// A span as it crosses from a child process to the test.
type span struct {
	Name   string
	Trace  string
	ID     string
	Parent string
	Kind   string
	Status string
	Attrs  map[string]string
	PID    int
}

func spanOf(s sdktrace.ReadOnlySpan, pid int) span {
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	return span{Name: s.Name(), Trace: s.SpanContext().TraceID().String(), ID: s.SpanContext().SpanID().String(),
		Parent: s.Parent().SpanID().String(), Kind: s.SpanKind().String(), Status: s.Status().Code.String(),
		Attrs: attrs, PID: pid}
}

// fileExporter appends each span to a file, as one JSON line.
type fileExporter struct {
	mu   sync.Mutex
	path string
}

func (e *fileExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, err := os.OpenFile(e.path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, s := range spans {
		b, err := json.Marshal(spanOf(s, os.Getpid()))
		if err != nil {
			return err
		}
		if _, err := f.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

func (e *fileExporter) Shutdown(context.Context) error { return nil }

// readSpans returns the spans of trace id: those the children wrote to
// path, and those this process recorded.
func readSpans(t *testing.T, path string, id trace.TraceID) []span {
	t.Helper()
	var out []span
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var s span
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatalf("span line %q: %v", sc.Text(), err)
			}
			if s.Trace == id.String() {
				out = append(out, s)
			}
		}
	}
	for _, s := range recorder.Ended() {
		if s.SpanContext().TraceID() == id {
			out = append(out, spanOf(s, os.Getpid()))
		}
	}
	return out
}
