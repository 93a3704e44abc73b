package actor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/panics"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// batchFunc is the reserved function that runs a batch of calls of one
// function in one round trip.
const batchFunc = "grove.batch"

// batchFlush is how often a batch under way sends the results it has
// gathered, as a Yield: an actor that dies mid-batch loses at most that
// much finished work, for a frame every batchFlush.
const batchFlush = 5 * time.Millisecond

// The batch's wire forms are msgpack arrays, not maps, and carry the
// arguments and the results each as one array, so that the caller encodes
// and decodes a whole batch in one go. The results come in parts, in order:
// a Yield per batchFlush of work, then the Return with the rest.
type batchCall struct {
	_msgpack struct{} `msgpack:",as_array"`
	Func     string
	Args     []msgpack.RawMessage
}

type batchReply struct {
	_msgpack struct{}           `msgpack:",as_array"`
	Outs     msgpack.RawMessage // one array: a result per argument of the part, nil where it failed
	Errs     []batchErr         // indexed in the whole batch
}

type batchErr struct {
	_msgpack struct{} `msgpack:",as_array"`
	Index    int
	Err      *transport.ErrorInfo
}

func init() {
	register(batchFunc, func(ctx context.Context, s *transport.Stream) (any, error) {
		var b batchCall
		if err := s.DecodeArgs(&b); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadArgument, batchFunc, err)
		}
		return runBatch(ctx, s, b)
	})
}

// partHeader starts a part's array of results: an array32 header whose
// count is filled in when the part is sent.
var partHeader = []byte{0xdd, 0, 0, 0, 0}

// runBatch runs each call of a batch in turn, in the actor; a failed item
// (error, panic, bad argument, unencodable result) fails alone. It notes
// each item on the actor's progress page, and sends the results gathered
// every batchFlush.
func runBatch(ctx context.Context, s *transport.Stream, b batchCall) (batchReply, error) {
	registry.RLock()
	invoke := registry.invokers[b.Func]
	registry.RUnlock()
	if invoke == nil {
		return batchReply{}, unknownFunction(b.Func, identity(ctx))
	}
	page, id := progressOf(ctx), s.ID()
	var due atomic.Bool
	flush := time.AfterFunc(batchFlush, func() { due.Store(true) })
	defer flush.Stop()
	var reply batchReply
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	buf.Write(partHeader)
	start := 0 // the first item of the part
	part := func(end int) batchReply {
		out := buf.Bytes()
		binary.BigEndian.PutUint32(out[1:], uint32(end-start))
		return batchReply{Outs: out, Errs: reply.Errs}
	}
	for i, args := range b.Args {
		page.item(id, uint32(2*i+1))
		runItem(ctx, b.Func, invoke, i, args, enc, &buf, &reply.Errs)
		page.item(id, uint32(2*i+2))
		if due.Load() && i+1 < len(b.Args) {
			if err := s.Yield(ctx, part(i+1)); err != nil {
				return batchReply{}, err
			}
			buf.Reset()
			buf.Write(partHeader)
			reply.Errs, start = nil, i+1
			due.Store(false)
			flush.Reset(batchFlush)
		}
	}
	return part(len(b.Args)), nil
}

// runItem runs item i of a batch and appends its result to buf, or nil and
// its error to errs.
func runItem(ctx context.Context, fn string, invoke invokeFunc, i int, args msgpack.RawMessage, enc *msgpack.Encoder, buf *bytes.Buffer, errs *[]batchErr) {
	fail := func(info *transport.ErrorInfo) {
		*errs = append(*errs, batchErr{Index: i, Err: info})
		_ = enc.EncodeNil()
	}
	if err := ctx.Err(); err != nil {
		fail(errorInfo(identity(ctx), err, ""))
		return
	}
	mark := buf.Len()
	var err, encErr error
	// The result's own EncodeMsgpack may panic too: one Try covers both.
	rec := panics.Try(func() {
		var out any
		if out, err = invoke(ctx, args); err == nil {
			encErr = enc.Encode(out)
		}
	})
	switch {
	case rec != nil:
		buf.Truncate(mark)
		fail(panicInfo(identity(ctx), rec))
	case err != nil:
		fail(errorInfo(identity(ctx), err, ""))
	case encErr != nil:
		buf.Truncate(mark)
		fail(errorInfo(identity(ctx), fmt.Errorf("actor: encode the result of %s: %w", fn, encErr), ""))
	}
}

// CallBatch runs f once for each input in the actor ref, in order, in one
// round trip: the arguments travel in one frame and the results in one
// every few milliseconds, so a batch of tiny calls costs about one call. It
// returns one result and one error per input (a [*RemoteError] for an input
// whose call failed in the actor, an encode or decode error, or the
// [*nursery.PanicError] of a panic in the caller's own EncodeMsgpack or
// DecodeMsgpack, for one that could not cross) and, apart, an error that
// ended the whole batch.
//
// That error is ctx's (outs and errs are then nil), or the actor's death.
// After a death every item still has its result or its error: the results
// that had arrived; the actor's [*ExitError] for the item that was running;
// for the items that never started, an error matching [ErrNotStarted]; for
// those that had run but whose results had not been sent yet, one matching
// [ErrResultLost]. Where the actor's progress is unknown (the goroutine
// backend, or concurrent batches on one actor), every item without a
// result gets the death.
func CallBatch[In, Out any](ctx context.Context, ref *Ref, f *Function[In, Out], ins []In) ([]Out, []error, error) {
	if f == nil {
		return nil, nil, fmt.Errorf("actor: CallBatch of a nil *Function[%T, %T]: declare it with actor.Func", *new(In), *new(Out))
	}
	outs := make([]Out, len(ins))
	errs := make([]error, len(ins))
	args, index := encodeArgs(f.name, ins, errs)
	if len(args) == 0 {
		return outs, errs, nil
	}
	s, err := ref.open(ctx, batchFunc, batchCall{Func: f.name, Args: args})
	if err != nil {
		if errors.Is(err, ErrNotStarted) {
			for _, i := range index {
				errs[i] = err
			}
			return outs, errs, err
		}
		return nil, nil, err
	}
	defer s.Close()
	got := 0 // the results received, in argument order
	for {
		m, err := ref.recv(ctx, s)
		if err != nil {
			if ctx.Err() != nil && err == ctx.Err() {
				return nil, nil, err
			}
			batchDeath(ref, s.ID(), got, index, errs, err)
			return outs, errs, err
		}
		switch m.Kind {
		case transport.KindYield, transport.KindReturn:
			var part batchReply
			if err := m.Decode(&part); err != nil {
				return nil, nil, fmt.Errorf("actor %s: a batch of %d calls of %s answered with unreadable results: %w", ref, len(args), f.name, err)
			}
			n, err := decodePart(ref, f.name, m.Kind, part, got, index, outs, errs)
			if err != nil {
				return nil, nil, err
			}
			if got += n; m.Kind == transport.KindYield {
				continue
			}
			if got != len(args) {
				return nil, nil, fmt.Errorf("actor %s: a batch of %d calls of %s answered with %d results", ref, len(args), f.name, got)
			}
			return outs, errs, nil
		case transport.KindError:
			return nil, nil, ref.answerError(f.name, m.Err)
		}
	}
}

// decodePart decodes the results of arguments got... of a batch into outs
// and errs, and returns how many there were; part came in a message of
// kind.
func decodePart[Out any](ref *Ref, name string, kind transport.Kind, part batchReply, got int, index []int, outs []Out, errs []error) (int, error) {
	left := len(index) - got
	direct := len(index) == len(outs) // every input was sent: decode in place
	var sent []Out
	if direct {
		sent = outs[got:got:len(outs)]
	} else {
		sent = make([]Out, 0, left)
	}
	if err, rec := tryDecode(kind, part.Outs, &sent); err != nil || rec != nil || len(sent) > left {
		// Some result does not fit Out, or its decoder panicked: decode
		// them one by one, so that only those fail.
		var raws []msgpack.RawMessage
		if err := decodeValid(kind, part.Outs, &raws); err != nil || len(raws) > left {
			return 0, fmt.Errorf("actor %s: a batch of %d calls of %s answered with unreadable results", ref, len(index), name)
		}
		sent = make([]Out, len(raws))
		direct = false
		for j, raw := range raws {
			if err, rec := tryDecode(kind, raw, &sent[j]); rec != nil {
				errs[index[got+j]] = &nursery.PanicError{Value: rec.Value, Stack: rec.Stack}
			} else if err != nil {
				errs[index[got+j]] = fmt.Errorf("actor: decode the result of %s: %w", name, err)
			}
		}
	}
	for j := 0; !direct && j < len(sent); j++ {
		outs[index[got+j]] = sent[j]
	}
	for _, e := range part.Errs {
		if e.Index < got || e.Index >= got+len(sent) || e.Err == nil {
			return 0, fmt.Errorf("actor %s: a batch answered with an error for item %d of %d", ref, e.Index, len(index))
		}
		errs[index[e.Index]] = ref.answerError(name, e.Err)
	}
	return len(sent), nil
}

// tryDecode is decodeValid, with a panic in a type's own decoder recovered.
func tryDecode(kind transport.Kind, b []byte, v any) (err error, rec *panics.Recovered) {
	rec = panics.Try(func() { err = decodeValid(kind, b, v) })
	return err, rec
}

// decodeValid decodes b, a payload of a message of kind or a value inside
// one, into v, strictly, without scanning it again: the transport validated
// the frame it came in (transport.Message.Decode).
func decodeValid(kind transport.Kind, b []byte, v any) error {
	m := transport.Message{Kind: kind, Payload: b}
	return m.Decode(v)
}

// batchDeath gives each argument of a batch without a result (from got on)
// its error after the actor died with death, from the actor's page.
func batchDeath(ref *Ref, id uint64, got int, index []int, errs []error, death error) {
	known, began, state, stateOK := ref.callFate(id)
	done, running := int(state>>1), state&1 == 1
	for j := got; j < len(index); j++ {
		err := death
		switch {
		case !known:
		case !began:
			err = fmt.Errorf("%w: %w", ErrNotStarted, death)
		case !stateOK:
		case j < done:
			err = fmt.Errorf("%w: %w", ErrResultLost, death)
		case j > done || !running:
			err = fmt.Errorf("%w: %w", ErrNotStarted, death)
		}
		errs[index[j]] = err
	}
}

// encodeArgs encodes the inputs of a batch, all at once when it can; an
// input that fails to encode gets its error in errs and is left out, and
// so does one whose encoder panics (its error is the [*nursery.PanicError]).
// index maps each argument sent to its input.
func encodeArgs[In any](name string, ins []In, errs []error) (args []msgpack.RawMessage, index []int) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	ends := make([]int, 0, len(ins))
	for next := 0; next < len(ins); {
		i := next
		rec := panics.Try(func() {
			for ; i < len(ins); i++ {
				mark := buf.Len()
				if err := enc.Encode(ins[i]); err != nil {
					buf.Truncate(mark)
					errs[i] = fmt.Errorf("actor: encode the argument of %s: %w", name, err)
					continue
				}
				ends = append(ends, buf.Len())
				index = append(index, i)
			}
		})
		if rec != nil { // input i panicked: drop what it wrote, go on after it
			end := 0
			if len(ends) > 0 {
				end = ends[len(ends)-1]
			}
			buf.Truncate(end)
			enc = msgpack.NewEncoder(&buf)
			errs[i] = &nursery.PanicError{Value: rec.Value, Stack: rec.Stack}
			i++
		}
		next = i
	}
	all := buf.Bytes()
	args = make([]msgpack.RawMessage, len(ends))
	start := 0
	for j, end := range ends {
		args[j] = all[start:end:end]
		start = end
	}
	return args, index
}
