//go:build !linux

package actor_test

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
)

// TestDebugRefusedHere: off Linux ServeDebug refuses, and so do the
// clients, naming the platform, rather than telling the user to opt in
// with a ServeDebug that cannot work here.
func TestDebugRefusedHere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := actor.ServeDebug(ctx)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, runtime.GOOS)
	_, err = actor.DebugTree(ctx, os.Getpid())
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, runtime.GOOS)
	require.NotErrorIs(t, err, actor.ErrNoDebug)
	err = actor.DebugStacks(ctx, os.Getpid(), io.Discard)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.ErrorContains(t, err, runtime.GOOS)
}
