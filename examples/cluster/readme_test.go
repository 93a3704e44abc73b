package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/snippets"
)

// clusterImports are the packages a cluster snippet of the README may use
// by name.
var clusterImports = []string{
	"context", "errors", "fmt", "log", "os", "os/signal", "strings", "syscall", "time",
	"github.com/grove-rt/grove/actor",
	"github.com/grove-rt/grove/nursery",
	"github.com/grove-rt/grove/cluster",
	"github.com/grove-rt/grove/cluster/embed",
}

// clusterAmbient declares what the cluster fragments take from their
// context.
const clusterAmbient = `
var (
	ctx context.Context
	n   *nursery.Nursery
	c   *cluster.Cluster
)
`

// The README's blocks fenced "```go cluster" compile here, in a module
// that requires cluster (grove's own module, whose snippets_test.go
// compiles the other blocks, must not).
func TestReadmeClusterSnippetsCompile(t *testing.T) {
	found := snippets.Markdown(t, "../../README.md", "```go cluster")
	require.NotEmpty(t, found, "the README's cluster snippets were found")
	snippets.Compile(t, found, clusterImports, clusterAmbient)
}
