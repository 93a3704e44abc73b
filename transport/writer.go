package transport

import (
	"context"
	"net"
	"sync"
)

// Frames up to copyMax bytes are copied into shared chunks of chunkSize,
// so that many small frames leave in one buffer; larger frames are queued
// as buffers of their own. Either way one batch is one writev.
const (
	chunkSize = 64 << 10
	copyMax   = 16 << 10
)

// writer coalesces the frames of many senders into few write syscalls. A
// sender queues its frame and returns; one goroutine writes whatever has
// queued up since its last write, in one net.Buffers write. No timer is
// involved: a lone frame goes out at once, and frames that arrive while a
// write is in progress go out together in the next one.
type writer struct {
	nc net.Conn

	mu       sync.Mutex
	bufs     [][]byte // queued buffers, in order
	tailOpen bool     // the last buffer is a chunk that may take more frames
	pending  int      // bytes queued
	drained  chan struct{}
	free     [][]byte // chunks to reuse

	kick chan struct{} // wakes the write loop; capacity 1
}

func newWriter(nc net.Conn) *writer {
	return &writer{nc: nc, drained: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// queue adds frame to the next batch. If wait is set and a megabyte is
// already queued, it first waits for the writer to drain, honouring ctx and
// done. frame is copied or, when large and owned, kept.
func (w *writer) queue(ctx context.Context, done <-chan struct{}, frame []byte, owned, wait bool) error {
	w.mu.Lock()
	for wait && w.pending >= maxPending {
		drained := w.drained
		w.mu.Unlock()
		select {
		case <-drained:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return errClosedWriter
		}
		w.mu.Lock()
	}
	switch {
	case len(frame) > copyMax && owned:
		w.bufs = append(w.bufs, frame)
		w.tailOpen = false
	case w.tailOpen && cap(w.bufs[len(w.bufs)-1])-len(w.bufs[len(w.bufs)-1]) >= len(frame):
		last := &w.bufs[len(w.bufs)-1]
		*last = append(*last, frame...)
	default:
		var chunk []byte
		if n := len(w.free); n > 0 && len(frame) <= chunkSize {
			chunk, w.free = w.free[n-1], w.free[:n-1]
		} else {
			chunk = make([]byte, 0, max(chunkSize, len(frame)))
		}
		w.bufs = append(w.bufs, append(chunk, frame...))
		w.tailOpen = true
	}
	first := w.pending == 0
	w.pending += len(frame)
	w.mu.Unlock()
	if first {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// errClosedWriter is only seen inside the package: callers report the
// connection's own error instead.
var errClosedWriter = net.ErrClosed

// loop writes batches until stop is closed (after a final flush) or a write
// fails; it returns the write error, if any.
func (w *writer) loop(stop <-chan struct{}) error {
	for {
		select {
		case <-w.kick:
		case <-stop:
			return w.flush()
		}
		if err := w.flush(); err != nil {
			return err
		}
	}
}

// flush writes everything queued, batch after batch, until the queue is
// empty.
func (w *writer) flush() error {
	var spare [][]byte
	for {
		w.mu.Lock()
		bufs, drained := w.bufs, w.drained
		if len(bufs) == 0 {
			w.mu.Unlock()
			return nil
		}
		w.bufs, w.tailOpen, w.pending = spare[:0], false, 0
		w.drained = make(chan struct{})
		w.mu.Unlock()

		batch := net.Buffers(bufs) // WriteTo consumes its receiver, not bufs
		_, err := batch.WriteTo(w.nc)
		close(drained)
		if err != nil {
			return err
		}
		w.mu.Lock()
		for i, b := range bufs {
			if cap(b) == chunkSize && len(w.free) < 4 {
				w.free = append(w.free, b[:0])
			}
			bufs[i] = nil
		}
		w.mu.Unlock()
		spare = bufs
	}
}
