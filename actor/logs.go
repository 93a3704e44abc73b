package actor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/grove-rt/grove/transport"
)

// The keys of the attributes that name an actor in grove's records (see
// [WithLogger]), and its levels for output lines.
const (
	logKeyName   = "grove.actor.name"
	logKeyID     = "grove.actor.id"
	logKeyPID    = "grove.actor.pid"
	logKeyHost   = "grove.host"
	logKeyStream = "log.iostream"
	stdoutLevel  = slog.LevelInfo
	stderrLevel  = slog.LevelWarn
)

// WithLogger makes the actor's output, and grove's warnings about it,
// records of logger instead of text, for programs that log structurally.
//
// Each line the actor's process writes on its stdout or stderr becomes one
// record: its message is the line without its newline; its level is Info
// for stdout, and Warn for stderr (where Go's log package, a default slog
// handler and a panic write: Warn marks the line without calling each one
// an error; a handler can tell them apart by "log.iostream"); its
// attributes are "grove.actor.name", "grove.actor.id" and
// "grove.actor.pid" (the actor's name, [Ref.ID] and [Ref.PID]),
// "grove.host" when it has a host ([WithHost], [OnHost]), and
// "log.iostream", "stdout" or "stderr": the keys otelgrove's spans carry,
// and OpenTelemetry's name for the stream, so that logs and traces join on
// them. Lines longer than 64 KiB are cut into records of 64 KiB,
// as [WithOutput] cuts them; the tail of stderr in an [*ExitError] is kept
// as without a logger. The actor process's own report of a failed
// handshake or link with this process is such a stderr line, plain
// ("actor: the handshake with the parent failed: ..."), so its record
// says it without a second set of attributes. It overrides WithOutput and WithStderr. A remote
// actor's output ([OnHost]) is logged the same way, and so is a
// [StartProcess]'s; an actor on the goroutine backend has no output of its
// own (it shares this process's stdout and stderr), so only the warnings go
// to logger there.
//
// The records are logged by the actor's output forwarders (two goroutines
// per actor process, which exist without a logger too), one Handle call
// per line, with no source (the line is the actor's, not a call site of
// this process): a handler that blocks holds up that actor's output, and
// then the actor when its pipe is full (backpressure, as from a slow
// WithOutput writer), never another actor; and it holds up the actor's
// end, which waits for the record being handled (at most half a second
// for the lines still unread once the process has exited, which are then
// dropped; the one in the handler is waited for). Every record is handled
// before the actor's task returns. A handler that panics crashes this
// program, as a panic on any goroutine does. Unlike WithOutput's
// writer, logger's handler is not serialised by grove (a [slog.Handler]
// must be safe for concurrent use).
//
// grove's warnings about the actor (that it outlived its nursery's body
// idle, see [WithIdleWarning]; that this process falls back to the
// goroutine backend, or reaps by threads: once per process, through the
// spawn that found out) go to logger too, without "log.iostream", with the
// actor's attributes known then (all for the idle warning; "grove.actor.name"
// for the fallback, which has no process; "grove.actor.pid" for the reaping,
// found at the fork) and the facts as attributes of their own ("err",
// "fix"...); without WithLogger they go to [slog.Default]. A nil logger
// is the default: prefixed text.
func WithLogger(logger *slog.Logger) Option { return func(c *config) { c.logger = logger } }

// warnLog is where grove's warnings about an actor spawned with c go.
func (c *config) warnLog() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}

// actorAttrs are the attributes naming the actor id in grove's records.
func actorAttrs(id transport.ActorID) []any {
	attrs := []any{logKeyName, id.Name, logKeyID, id.ID, logKeyPID, id.PID}
	if id.Host != "" {
		attrs = append(attrs, logKeyHost, id.Host)
	}
	return attrs
}

// tellParent writes, on an actor process's stderr w, one plain line
// saying what failed, for its parent: the parent's forwarder prefixes it
// with the actor's name, or makes it a Warn record of [WithLogger]'s
// logger holding the actor's attributes. Not slog's default logger, whose
// handler is whatever this program set (a timestamp, "ERROR", the
// attributes again, or JSON), which the parent would hold as the text of
// its record.
func tellParent(w io.Writer, what string, err error) {
	fmt.Fprintf(w, "actor: %s: %v\n", what, err)
}

// A logSink is a forward destination that makes each line a record of
// its logger at its level. forward writes it whole lines, each ending with
// a newline, without a prefix.
type logSink struct {
	logger *slog.Logger
	level  slog.Level
}

// Write logs line as one record. The record has no source (its PC is
// zero): the line is the actor's, and Logger.Log would name this method.
func (s *logSink) Write(line []byte) (int, error) {
	n := len(line)
	ctx := context.Background()
	if !s.logger.Enabled(ctx, s.level) {
		return n, nil
	}
	if n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	_ = s.logger.Handler().Handle(ctx, slog.NewRecord(time.Now(), s.level, string(line), 0))
	return n, nil
}

// sinks returns where the output of the actor id goes, and the prefix of
// its lines: WithLogger's records (unprefixed), or the writers of
// [config.writers] with prefix.
func (c *config) sinks(id transport.ActorID, def io.Writer, prefix string) (out, errw io.Writer, linePrefix string) {
	if c.logger == nil {
		out, errw = c.writers(def)
		return out, errw, prefix
	}
	l := c.logger.With(actorAttrs(id)...)
	return &logSink{l.With(logKeyStream, "stdout"), stdoutLevel}, &logSink{l.With(logKeyStream, "stderr"), stderrLevel}, ""
}
