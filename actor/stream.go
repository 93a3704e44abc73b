package actor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sourcegraph/conc/panics"

	"github.com/grove-rt/grove/transport"
)

// A StreamFunction is a function that streams values back to its caller,
// declared with [StreamFunc].
type StreamFunction[In, Out any] struct {
	name string
	fn   func(ctx context.Context, in In, out chan<- Out) error
}

// StreamFunc declares a streaming function: in the actor, fn sends items
// into out (it must not close it) and returns when done; the caller
// receives them from [Stream.C]. Backpressure runs end to end: while the
// caller does not read, fn's sends block. Declare it as a package-level
// variable; a duplicate name panics.
func StreamFunc[In, Out any](name string, fn func(ctx context.Context, in In, out chan<- Out) error) *StreamFunction[In, Out] {
	if fn == nil {
		panic("actor: StreamFunc needs a function")
	}
	register(name, func(ctx context.Context, s *transport.Stream) (any, error) {
		in, err := decodeArgs[In](name, s)
		if err != nil {
			return nil, err
		}
		return nil, produce(ctx, s, func(ctx context.Context, out chan<- Out) error { return fn(ctx, in, out) })
	})
	return &StreamFunction[In, Out]{name: name, fn: fn}
}

// Name returns the name the function was declared with.
func (f *StreamFunction[In, Out]) Name() string { return f.name }

// Open calls the streaming function in ref and returns the stream of its
// items. Read [Stream.C] until it closes, then [Stream.Err] says how the
// call ended; or cancel ctx, or call [Stream.Close], to end it early.
func (f *StreamFunction[In, Out]) Open(ctx context.Context, ref *Ref, in In) (*Stream[Out], error) {
	s, err := ref.open(ctx, f.name, in)
	if err != nil {
		return nil, err
	}
	return receive[Out](ctx, ref, f.name, s, nil), nil
}

// A Stream is the caller's end of a streaming call.
type Stream[Out any] struct {
	// C delivers the items in order; it is closed when the call ends.
	C <-chan Out

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Err waits until the call has ended and returns nil, the remote error, the
// actor's [*ExitError], or the ctx error that ended it early.
func (s *Stream[Out]) Err() error {
	<-s.done
	return s.err
}

// Close ends the call early (the remote function is cancelled) and waits
// until it has ended. Items not yet received are dropped.
func (s *Stream[Out]) Close() {
	s.cancel()
	<-s.done
}

var errClosedByCaller = errors.New("actor: stream closed by the caller")

// chanBuffer is the buffer of the channels between a stream and the
// functions on either end: enough that items move in batches rather than
// one goroutine switch each, small enough that backpressure still reaches
// the producer within a few dozen items (plus the transport's window).
const chanBuffer = 32

// receive starts the goroutine that turns a call's Yields into items on a
// channel, until the call ends or ctx ends.
func receive[Out any](ctx context.Context, ref *Ref, name string, ts *transport.Stream, onEnd func()) *Stream[Out] {
	c := make(chan Out, chanBuffer)
	ctx, cancel := context.WithCancelCause(ctx)
	s := &Stream[Out]{C: c, done: make(chan struct{})}
	s.cancel = func() { cancel(errClosedByCaller) }
	go func() {
		defer close(s.done)
		defer close(c)
		defer cancel(nil)
		defer ts.Close()
		if onEnd != nil {
			defer onEnd()
		}
		for {
			m, err := ref.recv(ctx, ts)
			if err != nil {
				if cause := context.Cause(ctx); ctx.Err() != nil && cause != nil {
					err = cause
				}
				s.err = err
				return
			}
			switch m.Kind {
			case transport.KindYield:
				var v Out
				if err := m.Decode(&v); err != nil {
					s.err = fmt.Errorf("actor: %s item: %w", name, err)
					_ = ts.Cancel(context.Background())
					return
				}
				select {
				case c <- v:
				case <-ctx.Done():
					_ = ts.Cancel(context.Background())
					s.err = context.Cause(ctx)
					return
				}
			case transport.KindReturn:
				return
			case transport.KindError:
				s.err = remoteError(m.Err)
				return
			}
		}
	}()
	return s
}

// produce runs fn in the callee with a channel whose items it yields on
// the stream, and returns fn's error once every item has been sent.
func produce[Out any](ctx context.Context, s *transport.Stream, fn func(ctx context.Context, out chan<- Out) error) error {
	out := make(chan Out, chanBuffer)
	var fnErr error
	var rec *panics.Recovered
	go func() {
		defer close(out)
		rec = panics.Try(func() { fnErr = fn(ctx, out) })
	}()
	var sendErr error
	for v := range out {
		if sendErr == nil {
			sendErr = s.Yield(ctx, v)
		}
		// After a failed send keep draining, so that fn is never stuck on
		// a send while it notices its cancelled ctx.
	}
	if rec != nil {
		panic(rec) // re-raised in the serving goroutine, which reports it
	}
	if fnErr == nil && sendErr != nil {
		if errors.Is(sendErr, transport.ErrCanceled) {
			sendErr = context.Canceled
		}
		return sendErr
	}
	if fnErr == nil {
		return s.Stop(ctx)
	}
	return fnErr
}

// A DuplexFunction is a function that exchanges streams with its caller,
// declared with [DuplexFunc].
type DuplexFunction[In, Out any] struct {
	name string
	fn   func(ctx context.Context, in <-chan In, out chan<- Out) error
}

// DuplexFunc declares a duplex function: in the actor, fn receives the
// caller's items from in (closed when the caller closes its side) and sends
// items into out; it returns when done. Backpressure runs both ways.
// Declare it as a package-level variable; a duplicate name panics.
func DuplexFunc[In, Out any](name string, fn func(ctx context.Context, in <-chan In, out chan<- Out) error) *DuplexFunction[In, Out] {
	if fn == nil {
		panic("actor: DuplexFunc needs a function")
	}
	register(name, func(ctx context.Context, s *transport.Stream) (any, error) {
		in := make(chan In, chanBuffer)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(in)
			for {
				m, err := s.Recv(ctx)
				if err != nil || m.Kind != transport.KindYield {
					return // the caller's Stop, or the end
				}
				var v In
				if err := m.Decode(&v); err != nil {
					return
				}
				select {
				case in <- v:
				case <-ctx.Done():
					return
				}
			}
		})
		err := produce(ctx, s, func(ctx context.Context, out chan<- Out) error { return fn(ctx, in, out) })
		cancel()
		for range in { // let the reader finish
		}
		wg.Wait()
		return nil, err
	})
	return &DuplexFunction[In, Out]{name: name, fn: fn}
}

// Name returns the name the function was declared with.
func (f *DuplexFunction[In, Out]) Name() string { return f.name }

// A Duplex is the caller's end of a duplex call: send into In (close it to
// end your side), receive from Out.
type Duplex[In, Out any] struct {
	// In takes the items for the actor; close it when you have sent all.
	In chan<- In
	// Out delivers the actor's items; it is closed when the call ends.
	Out <-chan Out

	recv *Stream[Out]
	sent chan struct{}
}

// Err waits until the call has ended and returns how it ended, as
// [Stream.Err].
func (d *Duplex[In, Out]) Err() error {
	err := d.recv.Err()
	<-d.sent
	return err
}

// Close ends the call early and waits until it has ended.
func (d *Duplex[In, Out]) Close() {
	d.recv.Close()
	<-d.sent
}

// Open calls the duplex function in ref.
func (f *DuplexFunction[In, Out]) Open(ctx context.Context, ref *Ref) (*Duplex[In, Out], error) {
	s, err := ref.open(ctx, f.name, nil)
	if err != nil {
		return nil, err
	}
	in := make(chan In)
	sctx, cancel := context.WithCancel(ctx)
	d := &Duplex[In, Out]{In: in, sent: make(chan struct{})}
	d.recv = receive[Out](ctx, ref, f.name, s, cancel)
	d.Out = d.recv.C
	go func() {
		defer close(d.sent)
		for {
			select {
			case v, ok := <-in:
				if !ok {
					_ = s.Stop(sctx)
					return
				}
				if err := s.Yield(sctx, v); err != nil {
					return // the call ended; receive reports why
				}
			case <-sctx.Done():
				return
			}
		}
	}()
	return d, nil
}
