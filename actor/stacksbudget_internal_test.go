package actor

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// hostileStacksEnv makes a child of this test binary answer grove.stacks
// with a dump of hostileStacks bytes, whatever budget it was given.
const hostileStacksEnv = "GROVE_TEST_HOSTILE_STACKS"

const hostileStacks = 1 << 20

func init() {
	if os.Getenv(hostileStacksEnv) == "" {
		return
	}
	dump := []stackDump{{Name: "hostile", Stacks: bytes.Repeat([]byte("x"), hostileStacks)}}
	registry.Lock()
	defer registry.Unlock()
	registry.fns[stacksFunc] = func(context.Context, *transport.Stream) (any, error) { return dump, nil }
}

// A parent with several children and a small budget gets dumps within the
// budget, every one cut and said to be; a child that answers past the
// budget it was given is cut to it by its parent.
func TestDumpStacksWithinItsBudget(t *testing.T) {
	proctest.NeedsProcesses(t, "child processes, each of its own dump")
	proctest.NoChildrenLeft(t)
	for _, hostile := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			defer n.Cancel(nil)
			const kids, budget = 3, 1600
			for i := range kids {
				var opts []Option
				if hostile && i == 0 {
					opts = append(opts, WithEnv(hostileStacksEnv+"=1"))
				}
				if _, err := Spawn(ctx, n, "kid", opts...); err != nil {
					return err
				}
			}
			dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
			defer dcancel()
			dumps := serverFor(dctx).stacks(dctx, false, budget)
			require.Len(t, dumps, kids+1)
			total := 0
			for _, d := range dumps {
				require.Empty(t, d.Err)
				require.True(t, d.Cut, "%s's dump is cut", d.Name)
				require.LessOrEqual(t, len(d.Stacks), budget/kids, "%s's dump is within its share", d.Name)
				total += len(d.Stacks)
			}
			require.LessOrEqual(t, total, budget)
			var buf bytes.Buffer
			require.NoError(t, writeStacks(&buf, dumps))
			require.Equal(t, kids+1, bytes.Count(buf.Bytes(), []byte("the dump was cut")))
			return nil
		})
		cancel()
		require.NoError(t, err)
	}
}
