package actor

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// BenchmarkForward forwards 1,000 lines of 80 bytes per op, prefixed to
// a writer (the default) and as records of a text logger (WithLogger).
func BenchmarkForward(b *testing.B) {
	input := []byte(strings.Repeat(strings.Repeat("x", 79)+"\n", 1000))
	sinks := map[string]io.Writer{
		"text":   io.Discard,
		"logger": &logSink{slog.New(slog.NewTextHandler(io.Discard, nil)), stdoutLevel},
	}
	for _, name := range []string{"text", "logger"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(input)))
			b.ReportAllocs()
			for b.Loop() {
				forward(bytes.NewReader(input), sinks[name], "[worker] ", nil)
			}
		})
	}
}

// lineWriter records each write forward makes: one a line.
type lineWriter struct{ lines []string }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

// A line of exactly maxLine bytes is one line, not that and an empty one
// after it; a longer one is cut at maxLine, and the rest is its own line.
func TestForwardCutsAtMaxLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want []int // lengths of the lines written, prefix and newline included
	}{
		{"a line of maxLine", strings.Repeat("x", maxLine) + "\nnext\n", []int{2 + maxLine + 1, 2 + 5}},
		{"a line of maxLine at the end", strings.Repeat("x", maxLine) + "\n", []int{2 + maxLine + 1}},
		{"a line of maxLine+1", strings.Repeat("x", maxLine+1) + "\n", []int{2 + maxLine + 1, 2 + 2}},
		{"a line of 2 maxLine", strings.Repeat("x", 2*maxLine) + "\n", []int{2 + maxLine + 1, 2 + maxLine + 1}},
		{"an empty line after a cut one", strings.Repeat("x", maxLine) + "\n\n", []int{2 + maxLine + 1, 2 + 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w lineWriter
			var tail tailBuffer
			forward(strings.NewReader(tc.in), &w, "> ", &tail)
			var got []int
			for _, l := range w.lines {
				got = append(got, len(l))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("lines of %v bytes, want %v", got, tc.want)
			}
			if want := tc.in[max(0, len(tc.in)-tailSize):]; tail.String() != want {
				t.Fatalf("the tail is not the input's last bytes")
			}
		})
	}
}

// A record of an actor's line names no source in this process: the line
// is the actor's, so a handler with AddSource must not say it is grove's
// logSink.
func TestLogSinkNoSource(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	sink := &logSink{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{AddSource: true})), stdoutLevel}
	forward(strings.NewReader("hello\n"), sink, "", nil)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "hello" {
		t.Fatalf("record %v, want the line as its message", rec)
	}
	if src, ok := rec["source"].(map[string]any); ok && len(src) > 0 {
		t.Fatalf("record %v names a source in this process", rec)
	}
}

// An actor process's own failure (its handshake or link with the parent)
// reaches a parent with WithLogger as a record saying it, with the
// actor's attributes once: not as the text of the child's slog handler
// (a timestamp, "ERROR", the attributes again) inside a Warn record.
func TestChildFailureIsAPlainRecord(t *testing.T) {
	t.Parallel()
	// What the child writes on its stderr, before its link exists.
	var stderr bytes.Buffer
	tellParent(&stderr, "the handshake with the parent failed", io.ErrUnexpectedEOF)

	var buf bytes.Buffer
	c := &config{logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	_, errw, prefix := c.sinks(transport.ActorID{Name: "w", ID: "1", PID: 7}, io.Discard, "[w] ")
	forward(&stderr, errw, prefix, nil)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec), buf.String())
	require.Equal(t, "actor: the handshake with the parent failed: unexpected EOF", rec["msg"])
	require.Equal(t, "WARN", rec["level"])
	require.Equal(t, "w", rec["grove.actor.name"])
	require.Equal(t, "stderr", rec["log.iostream"])
}
