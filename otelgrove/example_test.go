package otelgrove_test

import (
	"context"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/otelgrove"
)

// The main of a program whose actors are traced: Install first, then
// actor.Main, in every process of the tree (an actor runs the same main).
// It does not run here: this test binary has installed otelgrove already.
func ExampleInstall() {
	main := func() {
		tp := sdktrace.NewTracerProvider() // with the exporter of your choice
		defer func() { _ = tp.Shutdown(context.Background()) }()
		otel.SetTracerProvider(tp)
		otelgrove.Install() // the global providers; W3C trace context and baggage
		actor.Main()
		// ... spawn actors and call them: each call is a span, and the
		// actor's span of it is its child, in the actor's process.
	}
	_ = main
}
