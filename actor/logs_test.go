package actor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

// say writes a line on the actor's stdout and one on its stderr.
var say = actor.Func("test.say", func(ctx context.Context, s string) (int, error) {
	fmt.Println("out: " + s)
	fmt.Fprintln(os.Stderr, "err: "+s)
	return 0, nil
})

// jsonLog is a logger whose records are JSON lines in a buffer, each also
// reported on a channel (if it has room).
type jsonLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	seen chan struct{}
}

func newJSONLog() (*jsonLog, *slog.Logger) {
	l := &jsonLog{seen: make(chan struct{}, 64)}
	return l, slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.seen <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

// records parses every record logged so far.
func (l *jsonLog) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(l.buf.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		recs = append(recs, r)
	}
	return recs
}

// find returns the records whose msg is msg.
func find(recs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// requireActor checks the attributes that name ref in a record.
func requireActor(t *testing.T, rec map[string]any, ref *actor.Ref) {
	t.Helper()
	require.Equal(t, ref.Name(), rec["grove.actor.name"], rec)
	require.Equal(t, ref.ID(), rec["grove.actor.id"], rec)
	require.Equal(t, float64(ref.PID()), rec["grove.actor.pid"], rec)
}

// An actor's stdout and stderr lines become records with its attributes,
// Info and Warn, and nothing goes to WithOutput's writer; the stderr tail
// of its ExitError is kept.
func TestWithLoggerOutput(t *testing.T) {
	proctest.NeedsProcesses(t, "an output of its own")
	proctest.NoChildrenLeft(t)
	log, logger := newJSONLog()
	var text syncBuffer
	var ref *actor.Ref
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		ref, err = actor.Spawn(ctx, n, "talker", actor.WithLogger(logger), actor.WithOutput(&text))
		if err != nil {
			return err
		}
		if _, err := say.Call(ctx, ref, "hello"); err != nil {
			return err
		}
		_, err = exit.Call(ctx, ref, 3)
		return err
	})
	var ee *actor.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, ee.Code)
	require.Contains(t, ee.Stderr, "err: hello\nabout to exit with 3\n", "the tail is kept with a logger")
	require.Empty(t, text.String(), "WithLogger overrides WithOutput")

	recs := log.records(t)
	for _, tc := range []struct{ msg, stream, level string }{
		{"out: hello", "stdout", "INFO"},
		{"err: hello", "stderr", "WARN"},
		{"about to exit with 3", "stderr", "WARN"},
	} {
		got := find(recs, tc.msg)
		require.Len(t, got, 1, "one record of %q: %v", tc.msg, recs)
		requireActor(t, got[0], ref)
		require.Equal(t, tc.stream, got[0]["log.iostream"])
		require.Equal(t, tc.level, got[0]["level"])
		require.NotContains(t, got[0], "grove.host", "an actor of no host")
	}
}

// Lines longer than 64 KiB are cut into records of 64 KiB, as they are
// into prefixed lines.
func TestWithLoggerLongLines(t *testing.T) {
	proctest.NeedsProcesses(t, "an output of its own")
	proctest.NoChildrenLeft(t)
	log, logger := newJSONLog()
	writeLongLines(t, actor.WithLogger(logger))
	var lens []int
	for _, r := range log.records(t) {
		require.Equal(t, "stdout", r["log.iostream"])
		lens = append(lens, len(r["msg"].(string)))
	}
	require.Equal(t, longLinesCut, lens)
}

// The idle warning goes to WithLogger's logger, a short constant message
// with the facts as attributes, on either backend.
func TestWithLoggerIdleWarning(t *testing.T) {
	proctest.NoChildrenLeft(t)
	log, logger := newJSONLog()
	const idle = 50 * time.Millisecond
	var ref *actor.Ref
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		var err error
		ref, err = actor.Spawn(ctx, n, "forgotten", actor.WithLogger(logger), actor.WithIdleWarning(idle))
		if err != nil {
			return err
		}
		n.Go(func(ctx context.Context) error { // does what the body forgot, once warned
			select {
			case <-log.seen:
			case <-time.After(10 * time.Second):
			}
			n.Cancel(nil)
			return nil
		})
		return nil // forgot n.Cancel
	})
	require.NoError(t, err)
	got := find(log.records(t), "actor: idle after its nursery's body returned; the nursery waits for it")
	require.Len(t, got, 1, "one warning: %v", log.records(t))
	w := got[0]
	require.Equal(t, "WARN", w["level"])
	requireActor(t, w, ref)
	require.Equal(t, float64(idle), w["waited"])
	require.Contains(t, w["fix"], "n.Cancel(nil)")
	require.NotContains(t, w, "log.iostream")
}

// WithCmd is ignored on the goroutine backend, which starts no process.
func TestWithCmdIgnoredOnGoroutines(t *testing.T) {
	err := nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
		ref, err := actor.Spawn(ctx, n, "light", actor.WithBackend(actor.BackendGoroutine),
			actor.WithCmd(func(*exec.Cmd) { panic("not called") }))
		if err != nil {
			return err
		}
		_, err = square.Call(ctx, ref, 3)
		n.Cancel(nil)
		return err
	})
	require.NoError(t, err)
}
