//go:build linux

package cluster_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/clustertest"
	"github.com/grove-rt/grove/nursery"
)

// syncBuffer is a goroutine-safe output sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A remote actor works as a local one: calls, a 1,000-item stream, duplex,
// a panic, output lines prefixed with its name and host.
func TestRemoteSpawnCallStreamDuplex(t *testing.T) {
	tc := clustertest.Start(t, clustertest.Servers(2), clustertest.Hosts("a"))
	tc.Agent(t, "a")
	c := tc.Client(t)
	var out syncBuffer
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "far", actor.OnHost(c.Host("a")), actor.WithOutput(&out))
		if err != nil {
			return err
		}
		require.Equal(t, "a", ref.Host())
		got, err := pid.Call(ctx, ref, struct{}{})
		require.NoError(t, err)
		require.Equal(t, ref.PID(), got)

		st, err := count.Open(ctx, ref, 1000)
		require.NoError(t, err)
		items := 0
		for v := range st.C {
			require.Equal(t, items, v)
			items++
		}
		require.NoError(t, st.Err())
		require.Equal(t, 1000, items)

		d, err := upper.Open(ctx, ref)
		require.NoError(t, err)
		d.In <- "abc"
		close(d.In)
		require.Equal(t, "ABC", <-d.Out)
		for range d.Out {
		}
		require.NoError(t, d.Err())

		_, err = panicky.Call(ctx, ref, struct{}{})
		var re *actor.RemoteError
		require.ErrorAs(t, err, &re)
		require.True(t, re.Panicked())

		_, err = chatty.Call(ctx, ref, 3)
		require.NoError(t, err)
		ref.Cancel()
		return nil
	})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3, out.String())
	for i, l := range lines {
		require.Equal(t, "[far@a] line "+string(rune('0'+i)), l)
	}
}
