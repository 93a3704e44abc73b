package actor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sourcegraph/conc/panics"
	"github.com/vmihailenco/msgpack/v5"

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
// variable: a duplicate name, or a declaration inside a function, panics.
func StreamFunc[In, Out any](name string, fn func(ctx context.Context, in In, out chan<- Out) error) *StreamFunction[In, Out] {
	if fn == nil {
		panic("actor: StreamFunc needs a function")
	}
	mustCross[In, Out](name)
	register(name, func(ctx context.Context, s *transport.Stream) (any, error) {
		in, err := decodeArgs[In](name, s)
		if err != nil {
			return nil, err
		}
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		return nil, produce(ctx, stop, s, func(ctx context.Context, out chan<- Out) error { return fn(ctx, in, out) })
	})
	return &StreamFunction[In, Out]{name: name, fn: fn}
}

// Name returns the name the function was declared with.
func (f *StreamFunction[In, Out]) Name() string { return f.name }

// Open calls the streaming function in ref and returns the stream of its
// items. Read [Stream.C] until it closes, then [Stream.Err] says how the
// call ended; or cancel ctx, or call [Stream.Close], to end it early.
func (f *StreamFunction[In, Out]) Open(ctx context.Context, ref *Ref, in In) (*Stream[Out], error) {
	if f == nil {
		return nil, fmt.Errorf("actor: Open on a nil *StreamFunction[%T, %T]: declare it with actor.StreamFunc", *new(In), *new(Out))
	}
	ctx, done := observeCall(ctx, ref, f.name, CallKindStream)
	s, err := ref.open(ctx, f.name, in)
	if err != nil {
		if done != nil {
			done(CallEnd{Err: err})
		}
		return nil, err
	}
	return receive[Out](ctx, ref, f.name, s, nil, done), nil
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
// actor's [*ExitError], the ctx error that ended it early, or, after
// [Stream.Close], [ErrStreamClosed] (unless the remote function had ended by
// itself first: then its own outcome).
func (s *Stream[Out]) Err() error {
	<-s.done
	return s.err
}

// Close ends the call early and waits until it has ended: the remote
// function's ctx is cancelled and Close returns once the function has
// returned, or the link has ended, or after the actor's grace period
// ([WithGrace]) if the function ignores its ctx. Items not yet received are
// dropped. Close after the end returns at once.
func (s *Stream[Out]) Close() {
	s.cancel()
	<-s.done
}

// ErrStreamClosed is matched by [Stream.Err] and [Duplex.Err] when the
// caller's Close ended the call before the remote function did. It matches
// neither nil nor [context.Canceled], so a caller tells its own Close from
// a cancelled ctx and from a failure.
var ErrStreamClosed = errors.New("actor: stream closed by the caller")

// chanBuffer is the buffer of the channels between a stream and the
// functions on either end: enough that items move in batches rather than
// one goroutine switch each, small enough that backpressure still reaches
// the producer within a few dozen items (plus the transport's window).
const chanBuffer = 32

// receive starts the goroutine that turns a call's Yields into items on a
// channel, until the call ends or ctx ends; it then calls onEnd and done
// (the instrumentation's), each if not nil.
func receive[Out any](ctx context.Context, ref *Ref, name string, ts *transport.Stream, onEnd func(), done func(CallEnd)) *Stream[Out] {
	c := make(chan Out, chanBuffer)
	ctx, cancel := context.WithCancelCause(ctx)
	s := &Stream[Out]{C: c, done: make(chan struct{})}
	s.cancel = func() { cancel(ErrStreamClosed) }
	go func() {
		defer close(s.done)
		defer close(c)
		defer cancel(nil)
		defer ts.Close()
		if onEnd != nil {
			defer onEnd()
		}
		var items int
		open, err := deliver(ctx, ref, name, ts, c, &items)
		if open && errors.Is(context.Cause(ctx), ErrStreamClosed) {
			err = awaitEnd(ref, ts)
		}
		s.err = err
		if done != nil {
			done(CallEnd{Err: err, Items: items})
		}
	}()
	return s
}

// endedBy is the error of a stream that ctx ended: ErrStreamClosed for the
// caller's Close, and otherwise ctx's own error (not its cause), as a call
// returns it.
func endedBy(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrStreamClosed) {
		return cause
	}
	return ctx.Err()
}

// deliver delivers a call's items to c until the call ends, and returns how
// it ended; open reports that it stopped because ctx ended, before the
// remote's end arrived. It takes the messages that have arrived in runs
// (the transport unpacks Batch frames into them), and hands each item on
// without a select while c has room.
func deliver[Out any](ctx context.Context, ref *Ref, name string, ts *transport.Stream, c chan<- Out, items *int) (open bool, err error) {
	buf := make([]transport.Message, 0, chanBuffer)
	v := new(Out) // one for all the items: decoding into a local would allocate each
	codec := codecOf[Out]()
	for {
		msgs, err := ts.RecvMany(ctx, buf[:0])
		if err != nil {
			err = ref.recvFailed(ctx, ts)
			if cerr := ctx.Err(); cerr != nil && err == cerr { // recv gave up for ctx: the call is still open
				return true, endedBy(ctx)
			}
			return false, err // the actor's end, as recv decided it
		}
		for i := range msgs {
			m := msgs[i]
			msgs[i] = transport.Message{} // c's items must not keep the frames alive
			switch m.Kind {
			case transport.KindYield:
				if !codec.readAll(m.Payload, v) { // a basic type, decoded without reflection
					var zero Out
					*v = zero // msgpack would decode into what the last item left
					if err := m.Decode(v); err != nil {
						_ = ts.Cancel(context.Background())
						return false, fmt.Errorf("actor: %s item: %w", name, err)
					}
				}
				*items++
				select {
				case c <- *v:
					continue
				default:
				}
				select {
				case c <- *v:
				case <-ctx.Done():
					_ = ts.Cancel(context.Background())
					return true, endedBy(ctx)
				}
			case transport.KindReturn:
				return false, nil
			case transport.KindError:
				return false, ref.answerError(name, m.Err)
			}
		}
	}
}

// awaitEnd waits, after the caller's Close has cancelled the call, for the
// call's end, dropping the items that still arrive. It returns the remote's
// own outcome when the function ended by itself (its Return or error was
// on its way), and ErrStreamClosed when it ended because of the cancel, when
// the link ended, or when it is still running after the actor's grace period
// (it ignores its ctx): Close waits no longer than that.
func awaitEnd(ref *Ref, ts *transport.Stream) error {
	ctx, cancel := context.WithTimeout(context.Background(), ref.cfg.grace)
	defer cancel()
	for {
		m, err := ts.Recv(ctx)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("%w; the remote function had not ended %v later", ErrStreamClosed, ref.cfg.grace)
		case err != nil:
			return ErrStreamClosed
		case m.Kind == transport.KindReturn:
			return nil
		case m.Kind == transport.KindError:
			if err := remoteError(m.Err); !errors.Is(err, context.Canceled) {
				return err
			}
			return ErrStreamClosed
		}
	}
}

// produce runs fn in the callee with a channel whose items it yields on
// the stream, and returns fn's error once every item has been sent. A
// function that closes out gets errClosedOut (after its items) rather than
// a crash of the actor.
//
// stop cancels ctx: produce calls it when it can send no more. fn runs
// under ctx itself, not a context derived from it, so that whoever else
// watches ctx (a duplex function's reader, which closes in when ctx ends)
// never sees it end before fn's ctx has.
func produce[Out any](ctx context.Context, stop context.CancelFunc, s *transport.Stream, fn func(ctx context.Context, out chan<- Out) error) error {
	out := make(chan Out, chanBuffer)
	var fnErr error
	var rec *panics.Recovered
	closedByFn, returned := false, false
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		defer func() { closedByFn = !closeChan(out) }() // also when fn calls runtime.Goexit
		rec = panics.Try(func() { fnErr = fn(ctx, out) })
		returned = true
	}()
	var sendErr error
	// An item's own EncodeMsgpack may panic: one Try covers the whole run
	// of Yields rather than one each.
	sendRec := panics.Try(func() { sendErr = yieldAll(ctx, s, out) })
	if sendRec != nil {
		stop() // fn learns from its ctx that its call is over
	}
	for range out {
		// After a failed send keep draining, so that fn is never stuck on
		// a send while it notices its cancelled ctx.
	}
	<-ran
	switch {
	case closedByFn: // also explains a later send's panic
		return fmt.Errorf("actor: %s closed its out channel: a stream function must not close out (grove closes it when the function returns)", s.Func())
	case rec != nil:
		panic(rec) // re-raised in the serving goroutine, which reports it
	case sendRec != nil:
		panic(sendRec)
	case !returned:
		return goexitError(s.Func())
	case fnErr == nil && sendErr != nil:
		if errors.Is(sendErr, transport.ErrCanceled) {
			sendErr = context.Canceled
		}
		return sendErr
	case fnErr == nil:
		return s.Stop(ctx)
	}
	return fnErr
}

// yieldRun is the most items the producer takes from out for one
// YieldMany: a little more than out's buffer holds.
const yieldRun = 2 * chanBuffer

// yieldAll yields the items of out on s until out is closed (then it
// returns nil) or a Yield fails. It drains out in runs, whatever has
// arrived up to yieldRun items, and hands each run to the transport in one
// YieldMany (one Batch frame under one lock of the stream and one of the
// writer), as x/net/http2's and yamux's writers take what is queued; the
// function's own send is then the only per-item cost here.
func yieldAll[Out any](ctx context.Context, s *transport.Stream, out <-chan Out) error {
	var run [yieldRun]Out
	var items [yieldRun]any
	var raws [yieldRun]msgpack.RawMessage
	codec := codecOf[Out]()
	counted := countedItems(ctx)
	var enc []byte // the run's items, encoded by the typed codec
	for i := range run {
		items[i] = &run[i] // a pointer encodes as its item, and boxes nothing
		if codec.fast() {
			items[i] = &raws[i]
		}
	}
	for {
		v, ok := <-out
		if !ok {
			return nil
		}
		run[0] = v
		n := 1
	fill:
		for n < yieldRun {
			select {
			case v, ok := <-out:
				if !ok {
					break fill // the next receive returns
				}
				run[n] = v
				n++
			default:
				break fill
			}
		}
		if codec.fast() { // a basic type: encoded without msgpack's reflection
			enc = enc[:0]
			for i := range n {
				start := len(enc)
				enc = codec.write(enc, run[i])
				raws[i] = enc[start:len(enc):len(enc)]
			}
		}
		sent, err := s.YieldMany(ctx, items[:n])
		if counted != nil {
			counted.Add(int64(sent))
		}
		clear(run[:n]) // the run must not keep the items alive
		if err != nil {
			return err
		}
	}
}

// closeChan closes c and reports whether it was still open.
func closeChan[T any](c chan T) (closed bool) {
	defer func() {
		if recover() != nil {
			closed = false
		}
	}()
	close(c)
	return true
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
// Declare it as a package-level variable: a duplicate name, or a
// declaration inside a function, panics.
func DuplexFunc[In, Out any](name string, fn func(ctx context.Context, in <-chan In, out chan<- Out) error) *DuplexFunction[In, Out] {
	if fn == nil {
		panic("actor: DuplexFunc needs a function")
	}
	mustCross[In, Out](name)
	register(name, func(ctx context.Context, s *transport.Stream) (any, error) {
		in := make(chan In, chanBuffer)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		var inErr error // an item that does not decode fails the call
		wg.Go(func() {
			defer close(in)
			for {
				m, err := s.Recv(ctx)
				if err != nil || m.Kind != transport.KindYield {
					return // the caller's Stop, or the end
				}
				var v In
				if err := m.Decode(&v); err != nil {
					inErr = fmt.Errorf("%w: %s item (%T): %v", ErrBadArgument, name, v, err)
					cancel()
					return
				}
				select {
				case in <- v:
				case <-ctx.Done():
					return
				}
			}
		})
		err := produce(ctx, cancel, s, func(ctx context.Context, out chan<- Out) error { return fn(ctx, in, out) })
		cancel()
		for range in { // let the reader finish
		}
		wg.Wait()
		if inErr != nil {
			return nil, inErr
		}
		return nil, err
	})
	return &DuplexFunction[In, Out]{name: name, fn: fn}
}

// Name returns the name the function was declared with.
func (f *DuplexFunction[In, Out]) Name() string { return f.name }

// A Duplex is the caller's end of a duplex call: send into In (close it to
// end your side), receive from Out.
type Duplex[In, Out any] struct {
	// In takes the items for the actor; close it when you have sent all,
	// also after the call has ended. Once the call has ended (the remote
	// returned, ctx ended, or Close), items sent into In are dropped at
	// once; closing In ends the goroutine that drops them.
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

// Close ends the call early and waits until it has ended, as
// [Stream.Close]; [Duplex.Err] then matches [ErrStreamClosed] unless the
// remote function had ended by itself. Close In all the same.
func (d *Duplex[In, Out]) Close() {
	d.recv.Close()
	<-d.sent
}

// Open calls the duplex function in ref.
func (f *DuplexFunction[In, Out]) Open(ctx context.Context, ref *Ref) (*Duplex[In, Out], error) {
	if f == nil {
		return nil, fmt.Errorf("actor: Open on a nil *DuplexFunction[%T, %T]: declare it with actor.DuplexFunc", *new(In), *new(Out))
	}
	ctx, done := observeCall(ctx, ref, f.name, CallKindDuplex)
	s, err := ref.open(ctx, f.name, nil)
	if err != nil {
		if done != nil {
			done(CallEnd{Err: err})
		}
		return nil, err
	}
	in := make(chan In)
	sctx, cancel := context.WithCancel(ctx)
	d := &Duplex[In, Out]{In: in, sent: make(chan struct{})}
	d.recv = receive[Out](ctx, ref, f.name, s, cancel, done)
	d.Out = d.recv.C
	go func() {
		send(sctx, s, in)
		close(d.sent)
		for range in { // dropped: the call has ended
		}
	}()
	return d, nil
}

// send yields the caller's items on the stream until the caller closes in
// (then it sends Stop) or the call ends.
func send[In any](ctx context.Context, s *transport.Stream, in <-chan In) {
	for {
		select {
		case v, ok := <-in:
			if !ok {
				_ = s.Stop(ctx)
				return
			}
			if err := s.Yield(ctx, v); err != nil {
				return // the call ended; receive reports why
			}
		case <-ctx.Done():
			return
		}
	}
}
