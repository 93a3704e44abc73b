package actor

import (
	"bufio"
	"errors"
	"io"
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
	for {
		piece, err := br.ReadSlice('\n')
		if tail != nil && len(piece) > 0 {
			tail.Write(piece)
		}
		for len(piece) > 0 {
			n := min(len(piece), len(prefix)+maxLine-len(out))
			out = append(out, piece[:n]...)
			piece = piece[n:]
			if out[len(out)-1] == '\n' || len(out) == len(prefix)+maxLine {
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
	lineMu.Lock()
	_, _ = w.Write(out)
	lineMu.Unlock()
	if cap(out) > readSize {
		return append(make([]byte, 0, 256), out[:prefixLen]...)
	}
	return out[:prefixLen]
}

// tailBuffer keeps the last tailSize bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

func (t *tailBuffer) Write(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
