package actor_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// stdSentinels are the standard library's sentinels that cross the
// boundary without being registered by the program.
var stdSentinels = map[string]error{
	"fs.ErrNotExist":           fs.ErrNotExist,
	"fs.ErrExist":              fs.ErrExist,
	"fs.ErrPermission":         fs.ErrPermission,
	"os.ErrDeadlineExceeded":   os.ErrDeadlineExceeded,
	"io.ErrUnexpectedEOF":      io.ErrUnexpectedEOF,
	"net.ErrClosed":            net.ErrClosed,
	"io.EOF":                   io.EOF,
	"context.Canceled":         context.Canceled,
	"context.DeadlineExceeded": context.DeadlineExceeded,
}

// stdError returns the named sentinel wrapped, as library code returns it;
// fs.ErrNotExist comes from a real os.Open.
var stdError = actor.Func("test.stdError", func(ctx context.Context, name string) (int, error) {
	if name == "fs.ErrNotExist" {
		_, err := os.Open("/no/such/file/for/grove")
		return 0, err
	}
	return 0, fmt.Errorf("wrapped: %w", stdSentinels[name])
})

func TestStdSentinelsCrossTheBoundary(t *testing.T) {
	proctest.NoChildrenLeft(t)
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "worker")
		if err != nil {
			return err
		}
		for name, target := range stdSentinels {
			_, err := stdError.Call(ctx, ref, name)
			require.Error(t, err, name)
			require.ErrorIs(t, err, target, "%s matches across the boundary", name)
		}
		n.Cancel(nil)
		return nil
	})
	require.NoError(t, err)
}
