package grove_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A snippet is a Go code block of the README or of a package's doc comment.
type snippet struct {
	where string // file:line
	code  string
}

// readmeSnippets returns the ```go blocks of a Markdown file.
func readmeSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []snippet
	var cur *snippet
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case cur == nil && text == "```go":
			cur = &snippet{where: fmt.Sprintf("%s:%d", path, line+1)}
		case cur != nil && text == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.code += text + "\n"
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "%s: a code block is not closed", path)
	return out
}

// docSnippets returns the code blocks (the lines indented with a tab) of
// a Go file's comments; a blank comment line inside a block is kept.
func docSnippets(t *testing.T, path string) []snippet {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []snippet
	var cur *snippet
	pendingBlank := 0
	for i, text := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(text, "//\t"):
			if cur == nil {
				cur = &snippet{where: fmt.Sprintf("%s:%d", path, i+1)}
			}
			cur.code += strings.Repeat("\n", pendingBlank) + strings.TrimPrefix(text, "//\t") + "\n"
			pendingBlank = 0
		case text == "//" && cur != nil:
			pendingBlank++
		default:
			if cur != nil {
				out = append(out, *cur)
			}
			cur, pendingBlank = nil, 0
		}
	}
	return out
}

// snippetImports are the packages a snippet may use by name; the ones it
// does not use are not errors.
var snippetImports = []string{
	"context", "errors", "fmt", "log", "net", "os", "slices", "time",
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

// A program (a snippet that parses as a file) must compile as it is
// written; a fragment must too, as the body of a function, except that it
// may leave variables unused (what it would do with them is elided).

// Every Go snippet of the README and of the package docs compiles: a test,
// so that a snippet that stops compiling fails the build.
func TestSnippetsCompile(t *testing.T) {
	var snippets []snippet
	snippets = append(snippets, readmeSnippets(t, "README.md")...)
	docs, err := filepath.Glob("*/doc.go")
	require.NoError(t, err)
	for _, path := range append([]string{"doc.go"}, docs...) {
		snippets = append(snippets, docSnippets(t, path)...)
	}
	require.GreaterOrEqual(t, len(snippets), 10, "the README's and the docs' snippets were found")

	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "source", nil) // shared: it caches the packages
	var header strings.Builder
	header.WriteString("package main\n\nimport (\n")
	for _, path := range snippetImports {
		fmt.Fprintf(&header, "\t%q\n", path)
	}
	header.WriteString(")\n")
	for _, s := range snippets {
		// A line directive makes the errors point into the README or doc.
		code := "//line " + s.where + "\n" + s.code
		program := true
		f, fileErr := parser.ParseFile(fset, "", header.String()+code, 0)
		if fileErr != nil {
			program = false
			var err error
			f, err = parser.ParseFile(fset, "", header.String()+ambient+"\nfunc _() {\n"+code+"}\n", 0)
			if err != nil {
				t.Errorf("%s: does not parse as a file (%v) nor as a function body (%v):\n%s", s.where, fileErr, err, s.code)
				continue
			}
		}
		var errs []string
		conf := types.Config{Importer: imp, Error: func(err error) {
			msg := err.(types.Error).Msg
			if strings.HasSuffix(msg, "imported and not used") ||
				!program && strings.HasPrefix(msg, "declared and not used") {
				return
			}
			errs = append(errs, err.Error())
		}}
		_, _ = conf.Check("main", fset, []*ast.File{f}, nil)
		if len(errs) > 0 {
			t.Errorf("%s: does not compile:\n%s\n%s", s.where, strings.Join(errs, "\n"), s.code)
		}
	}
}
