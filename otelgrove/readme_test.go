package otelgrove_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/snippets"
)

// otelImports are the packages an otelgrove snippet of the README may
// use by name.
var otelImports = []string{
	"context", "fmt", "log",
	"github.com/grove-rt/grove/actor",
	"github.com/grove-rt/grove/nursery",
	"github.com/grove-rt/grove/otelgrove",
	"go.opentelemetry.io/otel",
	"go.opentelemetry.io/otel/sdk/trace",
}

// otelAmbient declares what the otelgrove fragments take from their
// context.
const otelAmbient = `
var ctx context.Context
`

// The README's blocks fenced "```go otelgrove" compile here, in the
// module that requires OpenTelemetry (grove's own, whose snippets_test.go
// compiles the other blocks, must not).
func TestReadmeSnippetsCompile(t *testing.T) {
	found := snippets.Markdown(t, "../README.md", "```go otelgrove")
	require.NotEmpty(t, found, "the README's otelgrove snippets were found")
	snippets.Compile(t, found, otelImports, otelAmbient)
}
