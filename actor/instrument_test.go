package actor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// TestMetadataWithoutInstrumentation calls, with a ctx that carries
// metadata (a trace context), an actor whose process registered no
// instrumentation (this test binary registers none): the actor ignores
// the metadata and answers as ever, a call and a batch alike.
func TestMetadataWithoutInstrumentation(t *testing.T) {
	proctest.NoChildrenLeft(t)
	require.Nil(t, actor.GetInstrumentation())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = transport.ContextWithMetadata(ctx, transport.Metadata{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "plain")
		require.NoError(t, err)
		defer ref.Cancel()
		out, err := echo.Call(ctx, ref, []byte("hi"))
		require.NoError(t, err)
		require.Equal(t, []byte("hi"), out)
		outs, errs, err := actor.CallBatch(ctx, ref, echo, [][]byte{[]byte("a"), []byte("b")})
		require.NoError(t, err)
		require.Equal(t, [][]byte{[]byte("a"), []byte("b")}, outs)
		require.Equal(t, []error{nil, nil}, errs)
		return nil
	})
	require.NoError(t, err)
}
