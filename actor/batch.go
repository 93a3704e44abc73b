package actor

import (
	"bytes"
	"context"
	"fmt"

	"github.com/sourcegraph/conc/panics"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// batchFunc is the reserved function that runs a batch of calls of one
// function in one round trip.
const batchFunc = "grove.batch"

// The batch's wire forms are msgpack arrays, not maps, and carry the
// arguments and the results each as one array, so that the caller encodes
// and decodes a whole batch in one go.
type batchCall struct {
	_msgpack struct{} `msgpack:",as_array"`
	Func     string
	Args     []msgpack.RawMessage
}

type batchReply struct {
	_msgpack struct{}           `msgpack:",as_array"`
	Outs     msgpack.RawMessage // one array: a result per argument, nil where it failed
	Errs     []batchErr
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
		return runBatch(ctx, b)
	})
}

// runBatch runs each call of a batch in turn, in the actor; a failed item
// (error, panic, bad argument, unencodable result) fails alone.
func runBatch(ctx context.Context, b batchCall) (batchReply, error) {
	registry.RLock()
	invoke := registry.invokers[b.Func]
	registry.RUnlock()
	if invoke == nil {
		return batchReply{}, unknownFunction(b.Func, identity(ctx))
	}
	var reply batchReply
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	_ = enc.EncodeArrayLen(len(b.Args))
	for i, args := range b.Args {
		fail := func(info *transport.ErrorInfo) {
			reply.Errs = append(reply.Errs, batchErr{Index: i, Err: info})
			_ = enc.EncodeNil()
		}
		if err := ctx.Err(); err != nil {
			fail(errorInfo(identity(ctx), err, ""))
			continue
		}
		var out any
		var err error
		if rec := panics.Try(func() { out, err = invoke(ctx, args) }); rec != nil {
			fail(panicInfo(identity(ctx), rec))
			continue
		}
		if err != nil {
			fail(errorInfo(identity(ctx), err, ""))
			continue
		}
		mark := buf.Len()
		if err := enc.Encode(out); err != nil {
			buf.Truncate(mark)
			fail(errorInfo(identity(ctx), fmt.Errorf("actor: encode the result of %s: %w", b.Func, err), ""))
		}
	}
	reply.Outs = buf.Bytes()
	return reply, nil
}

// CallBatch runs f once for each input in the actor ref, in order, in one
// round trip: the arguments travel in one frame and the results in one, so
// a batch of tiny calls costs about one call. It returns one result and one
// error per input (a [*RemoteError] for an input whose call failed in the
// actor, an encode or decode error for one that could not cross) and, apart,
// an error that ended the whole batch (ctx, or the actor's [*ExitError]).
func CallBatch[In, Out any](ctx context.Context, ref *Ref, f *Function[In, Out], ins []In) ([]Out, []error, error) {
	outs := make([]Out, len(ins))
	errs := make([]error, len(ins))
	args, index := encodeArgs(f.name, ins, errs)
	if len(args) == 0 {
		return outs, errs, nil
	}
	reply, err := CallByName[batchReply](ctx, ref, batchFunc, batchCall{Func: f.name, Args: args})
	if err != nil {
		return nil, nil, err
	}
	sent := make([]Out, 0, len(args))
	if err := transport.Unmarshal(reply.Outs, &sent); err != nil || len(sent) != len(args) {
		// Some result does not fit Out: decode them one by one, so that only
		// those fail.
		var raws []msgpack.RawMessage
		if err := transport.Unmarshal(reply.Outs, &raws); err != nil || len(raws) != len(args) {
			return nil, nil, fmt.Errorf("actor %s: a batch of %d calls of %s answered with unreadable results", ref, len(args), f.name)
		}
		sent = make([]Out, len(args))
		for j, raw := range raws {
			if err := transport.Unmarshal(raw, &sent[j]); err != nil {
				errs[index[j]] = fmt.Errorf("actor: decode the result of %s: %w", f.name, err)
			}
		}
	}
	for j, out := range sent {
		outs[index[j]] = out
	}
	for _, e := range reply.Errs {
		if e.Index < 0 || e.Index >= len(index) || e.Err == nil {
			return nil, nil, fmt.Errorf("actor %s: a batch answered with an error for item %d of %d", ref, e.Index, len(index))
		}
		errs[index[e.Index]] = remoteError(e.Err)
	}
	return outs, errs, nil
}

// encodeArgs encodes the inputs of a batch, all at once when it can; an
// input that fails to encode gets its error in errs and is left out. index
// maps each argument sent to its input.
func encodeArgs[In any](name string, ins []In, errs []error) (args []msgpack.RawMessage, index []int) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	ends := make([]int, 0, len(ins))
	for i, in := range ins {
		mark := buf.Len()
		if err := enc.Encode(in); err != nil {
			buf.Truncate(mark)
			errs[i] = fmt.Errorf("actor: encode the argument of %s: %w", name, err)
			continue
		}
		ends = append(ends, buf.Len())
		index = append(index, i)
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
