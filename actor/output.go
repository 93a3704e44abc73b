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
// into pieces of this size, each prefixed.
const maxLine = 64 << 10

// forward copies r to w line by line, each line prefixed, and keeps the
// tail of what it read in tail (if not nil). It returns at the end of r.
func forward(r io.Reader, w io.Writer, prefix string, tail *tailBuffer) {
	br := bufio.NewReaderSize(r, maxLine)
	buf := make([]byte, 0, 256)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if tail != nil {
				tail.Write(line)
			}
			buf = append(append(buf[:0], prefix...), line...)
			if buf[len(buf)-1] != '\n' {
				buf = append(buf, '\n')
			}
			lineMu.Lock()
			_, _ = w.Write(buf)
			lineMu.Unlock()
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
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
