package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDemo(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(context.Background(), &out))
	want := `1. fan-out: the nursery waits for every child
   child 0 done after 30ms
   child 1 done after 10ms
   child 2 done after 20ms
2. Start: a service reports ready before the caller goes on
   service: len("structured") = 10
   service: len("concurrency") = 11
3. a child fails: its siblings are cancelled and the error flows up
   sibling cancelled because: fetch "b": connection refused
   Run returned: fetch "b": connection refused
4. deadline scopes: move on, or fail
   MoveOnAfter(20ms): timed out = true
   FailAfter(20ms): errors.Is(err, nursery.ErrTooSlow) = true
`
	require.Equal(t, want, out.String())
}

func TestDemoCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before the first scene
	var out strings.Builder
	err := run(ctx, &out)
	require.ErrorIs(t, err, context.Canceled)
}
