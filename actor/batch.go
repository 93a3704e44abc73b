package actor

import (
	"context"
	"fmt"

	"github.com/sourcegraph/conc/panics"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// batchFunc is the reserved function that runs a batch of calls of one
// function in one round trip.
const batchFunc = "grove.batch"

type batchCall struct {
	Func string
	Args []msgpack.RawMessage
}

type batchResult struct {
	Out msgpack.RawMessage
	Err *transport.ErrorInfo
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
// (error, panic, bad argument) fails alone.
func runBatch(ctx context.Context, b batchCall) ([]batchResult, error) {
	registry.RLock()
	invoke := registry.invokers[b.Func]
	registry.RUnlock()
	if invoke == nil {
		return nil, fmt.Errorf("%w %q in %s", ErrUnknownFunction, b.Func, self)
	}
	results := make([]batchResult, len(b.Args))
	for i, args := range b.Args {
		if err := ctx.Err(); err != nil {
			results[i].Err = errorInfo(self, err, "")
			continue
		}
		var out any
		var err error
		if rec := panics.Try(func() { out, err = invoke(ctx, args) }); rec != nil {
			results[i].Err = panicInfo(rec)
			continue
		}
		if err == nil {
			results[i].Out, err = msgpack.Marshal(out)
		}
		if err != nil {
			results[i].Err = errorInfo(self, err, "")
		}
	}
	return results, nil
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
	args := make([]msgpack.RawMessage, 0, len(ins))
	index := make([]int, 0, len(ins)) // the input each sent argument stands for
	for i, in := range ins {
		b, err := msgpack.Marshal(in)
		if err != nil {
			errs[i] = fmt.Errorf("actor: encode the argument of %s: %w", f.name, err)
			continue
		}
		args = append(args, b)
		index = append(index, i)
	}
	if len(args) == 0 {
		return outs, errs, nil
	}
	results, err := CallByName[[]batchResult](ctx, ref, batchFunc, batchCall{Func: f.name, Args: args})
	if err != nil {
		return nil, nil, err
	}
	if len(results) != len(args) {
		return nil, nil, fmt.Errorf("actor %s: batch of %d calls answered with %d results", ref, len(args), len(results))
	}
	for j, r := range results {
		i := index[j]
		switch {
		case r.Err != nil:
			errs[i] = remoteError(r.Err)
		default:
			if err := msgpack.Unmarshal(r.Out, &outs[i]); err != nil {
				errs[i] = fmt.Errorf("actor: decode the result of %s: %w", f.name, err)
			}
		}
	}
	return outs, errs, nil
}
