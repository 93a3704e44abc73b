package actor

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
)

// lineMu makes each forwarded line one uninterrupted write, whatever the
// destination, so lines of different actors never interleave mid-line.
var lineMu sync.Mutex

// maxLine is the longest line forwarded in one piece; longer lines are cut
// into pieces of this size, each prefixed. readSize is the read buffer: a
// line longer than it is gathered piece by piece, so an actor that writes
// short lines costs its parent 4 KiB per stream, not maxLine.
const (
	maxLine  = 64 << 10
	readSize = 4 << 10
)

// forward copies r to w line by line, each line prefixed, and keeps the
// tail of what it read in tail (if not nil). It returns at the end of r.
func forward(r io.Reader, w io.Writer, prefix string, tail *tailBuffer) {
	br := bufio.NewReaderSize(r, readSize)
	out := append(make([]byte, 0, 256), prefix...)
	cut := false // the last line emitted was cut at maxLine
	for {
		piece, err := br.ReadSlice('\n')
		if tail != nil && len(piece) > 0 {
			tail.Write(piece)
		}
		if cut && len(piece) > 0 && piece[0] == '\n' {
			// The newline of a line cut right before it ends that line,
			// which emit already ended: not an empty line of its own.
			piece, cut = piece[1:], false
		}
		for len(piece) > 0 {
			n := min(len(piece), len(prefix)+maxLine-len(out))
			out = append(out, piece[:n]...)
			piece = piece[n:]
			cut = out[len(out)-1] != '\n' && len(out) == len(prefix)+maxLine
			if cut || out[len(out)-1] == '\n' {
				out = emit(w, out, len(prefix))
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if len(out) > len(prefix) { // a last line without its newline
				emit(w, out, len(prefix))
			}
			return
		}
	}
}

// emit writes the prefixed line in out, ending it with a newline, as one
// write, and returns out holding the prefix alone. A buffer grown by a
// long line is let go.
func emit(w io.Writer, out []byte, prefixLen int) []byte {
	if out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	switch w.(type) {
	case *placeWriter:
		// A remote actor's output, which its own forwarder emits line by
		// line under lineMu: holding lineMu here would deadlock a host
		// agent in this process, whose actors' output is forwarded to it.
		_, _ = w.Write(out)
	case *logSink:
		_, _ = w.Write(out) // a slog.Handler serialises its own output
	default:
		lineMu.Lock()
		_, _ = w.Write(out)
		lineMu.Unlock()
	}
	if cap(out) > readSize {
		return append(make([]byte, 0, 256), out[:prefixLen]...)
	}
	return out[:prefixLen]
}

// tailBuffer keeps the last tailSize bytes written to it, and the headline
// of a Go crash report: the lines from "panic: ", "fatal error: " or
// "runtime: " on, up to headLines lines or headSize bytes. A stack overflow's
// report is far longer than the tail, and its headline is the news. Writes
// are whole lines, or pieces of a long line.
type tailBuffer struct {
	mu        sync.Mutex
	buf       []byte // the tail
	total     int64  // bytes written in all
	midLine   bool   // the last write did not end a line
	head      []byte // the latest crash headline and the lines after it
	headAt    int64  // where head starts in the stream
	headLines int    // lines in head
	capturing bool   // head is still being filled
}

const (
	tailSize  = 4 << 10
	headSize  = 1 << 10
	headLines = 10
)

// crashHeadlines are how the lines that open a Go crash report begin.
var crashHeadlines = []string{"panic: ", "fatal error: ", "runtime: ", "SIGABRT: ", "SIGQUIT: ", "SIGSEGV: ", "SIGBUS: ", "SIGILL: ", "SIGFPE: ", "SIGTRAP: "}

func (t *tailBuffer) Write(p []byte) {
	if len(p) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.midLine && !t.capturing && isCrashHeadline(p) {
		t.head, t.headAt, t.headLines, t.capturing = t.head[:0], t.total, 0, true
	}
	if t.capturing {
		t.head = append(t.head, p[:min(len(p), headSize-len(t.head))]...)
		if p[len(p)-1] == '\n' {
			t.headLines++
		}
		t.capturing = t.headLines < headLines && len(t.head) < headSize
	}
	t.total += int64(len(p))
	t.midLine = p[len(p)-1] != '\n'
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
}

func isCrashHeadline(p []byte) bool {
	for _, h := range crashHeadlines {
		if len(p) >= len(h) && string(p[:len(h)]) == h {
			return true
		}
	}
	return false
}

// String returns the headline, if the tail no longer holds it, then the
// tail.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	tailAt := t.total - int64(len(t.buf))
	if len(t.head) == 0 || t.headAt >= tailAt {
		return string(t.buf)
	}
	tail := t.buf
	if i := bytes.IndexByte(tail, '\n'); i >= 0 && i+1 < len(tail) {
		tail = tail[i+1:] // from the first whole line
	}
	head := string(t.head)
	if !strings.HasSuffix(head, "\n") {
		head += "\n"
	}
	return head + "...\n" + string(tail)
}
