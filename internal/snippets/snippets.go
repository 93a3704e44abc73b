// Package snippets checks that the Go code blocks of grove's documentation
// compile: the README's and the package docs' (the root module's
// snippets_test.go), and the README's cluster blocks, which import the
// cluster module and are compiled from a module that requires it
// (examples/cluster's readme_test.go).
package snippets

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A Snippet is a Go code block of a Markdown file or of a Go file's doc
// comment.
type Snippet struct {
	Where string // file:line
	Code  string
}

// Markdown returns the code blocks of a Markdown file whose fence is
// exactly fence ("```go", "```go cluster").
func Markdown(t testing.TB, path, fence string) []Snippet {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []Snippet
	var cur *Snippet
	inBlock := false // in any fenced block, of this fence or another
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case !inBlock && text == fence:
			inBlock, cur = true, &Snippet{Where: fmt.Sprintf("%s:%d", path, line+1)}
		case !inBlock && strings.HasPrefix(text, "```"):
			inBlock = true
		case inBlock && text == "```":
			if cur != nil {
				out = append(out, *cur)
			}
			inBlock, cur = false, nil
		case cur != nil:
			cur.Code += text + "\n"
		}
	}
	require.NoError(t, sc.Err())
	require.False(t, inBlock, "%s: a code block is not closed", path)
	return out
}

// DocComments returns the code blocks (the lines indented with a tab) of
// a Go file's comments; a blank comment line inside a block is kept.
func DocComments(t testing.TB, path string) []Snippet {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []Snippet
	var cur *Snippet
	pendingBlank := 0
	for i, text := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(text, "//\t"):
			if cur == nil {
				cur = &Snippet{Where: fmt.Sprintf("%s:%d", path, i+1)}
			}
			cur.Code += strings.Repeat("\n", pendingBlank) + strings.TrimPrefix(text, "//\t") + "\n"
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

// Compile fails t for each snippet that does not compile with imports (the
// packages a snippet may use by name; those it does not use are no
// errors). A program (a snippet that parses as a file) must compile as it
// is written; a fragment must too, as the body of a function after the
// declarations of ambient (what fragments take from their context),
// except that it may leave variables unused (what it would do with them is
// elided). Packages are type-checked from source, as the go command
// resolves them from the current directory's module.
func Compile(t testing.TB, snippets []Snippet, imports []string, ambient string) {
	t.Helper()
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "source", nil) // shared: it caches the packages
	var header strings.Builder
	header.WriteString("package main\n\nimport (\n")
	for _, path := range imports {
		fmt.Fprintf(&header, "\t%q\n", path)
	}
	header.WriteString(")\n")
	for _, s := range snippets {
		// A line directive makes the errors point into the README or doc.
		code := "//line " + s.Where + "\n" + s.Code
		program := true
		f, fileErr := parser.ParseFile(fset, "", header.String()+code, 0)
		if fileErr != nil {
			program = false
			var err error
			f, err = parser.ParseFile(fset, "", header.String()+ambient+"\nfunc _() {\n"+code+"}\n", 0)
			if err != nil {
				t.Errorf("%s: does not parse as a file (%v) nor as a function body (%v):\n%s", s.Where, fileErr, err, s.Code)
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
			t.Errorf("%s: does not compile:\n%s\n%s", s.Where, strings.Join(errs, "\n"), s.Code)
		}
	}
}
