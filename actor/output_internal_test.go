package actor

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
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
