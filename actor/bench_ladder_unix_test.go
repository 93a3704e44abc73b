//go:build unix

package actor_test

import (
	"context"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// BenchmarkCancelDeaf is grove-bench's figure 5b in small: cancel a
// nursery of 50 actors that spin and ignore their ctx, with a ladder of
// 200 ms grace and 200 ms kill delay, until every process is reaped. It
// reports the time beyond the ladder (ms-beyond/op), beside the floor:
// SIGKILL to 50 bare spinning children from one loop, then reap them.
func BenchmarkCancelDeaf(b *testing.B) {
	const n = 50
	const grace, kill = 200 * time.Millisecond, 200 * time.Millisecond
	b.Run("floor", func(b *testing.B) {
		var beyond time.Duration
		for range b.N {
			conns := make([]net.Conn, n)
			cmds := make([]*exec.Cmd, n)
			for i := range n {
				conns[i], cmds[i] = startFloor(b, "spin")
				var one [1]byte
				_, err := io.ReadFull(conns[i], one[:])
				require.NoError(b, err)
			}
			start := time.Now()
			for _, c := range cmds {
				_ = c.Process.Signal(syscall.SIGKILL)
			}
			for i, c := range cmds {
				_ = c.Wait()
				conns[i].Close()
			}
			beyond += time.Since(start)
		}
		b.ReportMetric(float64(beyond.Milliseconds())/float64(b.N), "ms-beyond/op")
	})
	for _, bc := range []struct {
		name string
		opts []actor.Option
	}{
		{"grove", nil},
		{"nice", []actor.Option{actor.WithNice(5)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var beyond time.Duration
			for range b.N {
				var start time.Time
				err := nursery.Run(context.Background(), func(ctx context.Context, nu *nursery.Nursery) error {
					var running sync.WaitGroup
					for range n {
						ref, err := actor.Spawn(ctx, nu, "deaf", append(bc.opts, actor.WithGrace(grace), actor.WithKillDelay(kill))...)
						if err != nil {
							return err
						}
						st, err := spinDeaf.Open(context.Background(), ref, 0)
						if err != nil {
							return err
						}
						running.Add(1)
						nu.Go(func(context.Context) error {
							<-st.C
							running.Done()
							for range st.C {
							}
							return nil
						})
					}
					running.Wait()
					start = time.Now()
					nu.Cancel(nil)
					return nil
				})
				require.NoError(b, err)
				beyond += time.Since(start) - grace - kill
			}
			b.ReportMetric(float64(beyond.Milliseconds())/float64(b.N), "ms-beyond/op")
		})
	}
}
