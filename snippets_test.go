package grove_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/snippets"
)

// The README's blocks fenced "```go cluster" import the cluster module,
// which this one must not: examples/cluster's readme_test.go compiles them.

// snippetImports are the packages a snippet may use by name; the ones it
// does not use are not errors.
var snippetImports = []string{
	"context", "errors", "fmt", "log", "log/slog", "net", "os", "slices", "time",
	"github.com/grove-rt/grove/actor",
	"github.com/grove-rt/grove/bridge",
	"github.com/grove-rt/grove/nursery",
	"github.com/grove-rt/grove/pool",
	"github.com/grove-rt/grove/supervise",
	"github.com/grove-rt/grove/transport",
}

// ambient declares what the fragments (snippets without declarations of
// their own, checked as the body of a function) take from their context.
const ambient = `
var (
	ctx        context.Context
	n          *nursery.Nursery
	p          *pool.Pool
	Square     *actor.Function[int, int]
	Get        *actor.Function[string, string]
	inputs, xs []int
	urls       []string
)

func fetch(ctx context.Context, url string) error               { return nil }
func serve(ctx context.Context, ln net.Listener) error          { return nil }
func countWords(ctx context.Context, p *pool.Pool) (int, error) { return 0, nil }
func work(ctx context.Context) error                            { return nil }
`

// Every Go snippet of the README and of the package docs compiles: a test,
// so that a snippet that stops compiling fails the build.
func TestSnippetsCompile(t *testing.T) {
	found := snippets.Markdown(t, "README.md", "```go")
	docs, err := filepath.Glob("*/doc.go")
	require.NoError(t, err)
	for _, path := range append([]string{"doc.go"}, docs...) {
		found = append(found, snippets.DocComments(t, path)...)
	}
	require.GreaterOrEqual(t, len(found), 10, "the README's and the docs' snippets were found")
	snippets.Compile(t, found, snippetImports, ambient)
}
