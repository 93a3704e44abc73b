package actor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/nursery"
)

// A body that forgets to cancel its actor gets grove's idle warning as a
// record of the spawn's logger, its facts as attributes. (The actor's
// output lines would be records of it too: "msg" the line, "log.iostream"
// "stdout" or "stderr".)
func ExampleWithLogger() {
	warned := make(chan struct{}, 1)
	logger := slog.New(slog.NewTextHandler(signalling{os.Stdout, warned}, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "grove.actor.id", "grove.actor.pid", "why", "fix": // vary, or are long
				return slog.Attr{}
			}
			return a
		},
	}))
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		_, err := actor.Spawn(ctx, n, "forgotten", actor.WithLogger(logger),
			actor.WithIdleWarning(10*time.Millisecond))
		if err != nil {
			return err
		}
		n.Go(func(ctx context.Context) error { // does what the body forgot, once warned
			select {
			case <-warned:
			case <-time.After(10 * time.Second):
			}
			n.Cancel(nil)
			return nil
		})
		return nil // forgot n.Cancel(nil)
	})
	fmt.Println("Run returned:", err)
	// Output:
	// level=WARN msg="actor: idle after its nursery's body returned; the nursery waits for it" grove.actor.name=forgotten waited=10ms
	// Run returned: <nil>
}

// signalling is a writer that reports each write on a channel.
type signalling struct {
	w io.Writer
	c chan struct{}
}

func (s signalling) Write(p []byte) (int, error) {
	select {
	case s.c <- struct{}{}:
	default:
	}
	return s.w.Write(p)
}
