package pool

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/grove-rt/grove/actor"
)

// A MapOption configures Map and MapUnordered.
type MapOption func(*mapConfig)

type mapConfig struct {
	batch    int
	progress func(done, total int)
}

// WithBatchSize sends n inputs per round trip instead of sizing batches
// automatically.
func WithBatchSize(n int) MapOption {
	if n < 1 {
		panic("pool: WithBatchSize needs n >= 1")
	}
	return func(c *mapConfig) { c.batch = n }
}

// WithProgress calls fn(done, total) after each batch, in the goroutine
// that ranges over the results. total counts the inputs read so far; it is
// final once the input is exhausted.
func WithProgress(fn func(done, total int)) MapOption {
	return func(c *mapConfig) { c.progress = fn }
}

// Automatic batching: batches grow while a round trip takes less than half
// the target and shrink while it takes more than twice it, so tiny tasks
// travel thousands to a frame and slow ones one at a time.
const (
	batchTarget = 20 * time.Millisecond
	maxBatch    = 8192
)

// Map runs fn on every input across the pool's workers and yields the
// results in input order, each with its own error (a failed task fails
// alone, at its position). Inputs are read lazily, at most two batches per
// worker ahead of the consumer; tiny tasks are batched automatically. If the
// consumer stops early, or ctx is cancelled (the iterator then yields ctx's
// error last), dispatch stops and the batches in flight are cancelled.
func Map[In, Out any](ctx context.Context, p *Pool, fn *actor.Function[In, Out], ins iter.Seq[In], opts ...MapOption) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) { runMap(ctx, p, fn, ins, true, opts, yield) }
}

// MapUnordered is [Map] yielding results as they complete.
func MapUnordered[In, Out any](ctx context.Context, p *Pool, fn *actor.Function[In, Out], ins iter.Seq[In], opts ...MapOption) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) { runMap(ctx, p, fn, ins, false, opts, yield) }
}

type batchDone[Out any] struct {
	seq  int
	outs []Out
	errs []error
	took time.Duration
}

func runMap[In, Out any](ctx context.Context, p *Pool, fn *actor.Function[In, Out], ins iter.Seq[In], ordered bool, opts []MapOption, yield func(Out, error) bool) {
	if err := misuse("Map", p, fn); err != nil {
		var zero Out
		yield(zero, err)
		return
	}
	if ctx == nil {
		var zero Out
		yield(zero, errors.New("pool: Map: nil ctx: pass the caller's ctx (or context.Background())"))
		return
	}
	var cfg mapConfig
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next, stop := iter.Pull(ins)
	defer stop()

	window := 2 * p.Workers()
	results := make(chan batchDone[Out], window) // never blocks a batch
	size := cfg.batch
	if size == 0 {
		size = 1
	}
	var zero Out
	inflight, seq, read, done, nextSeq := 0, 0, 0, 0, 0
	exhausted := false
	pending := map[int]batchDone[Out]{}

	dispatch := func() {
		// In order, a batch parked behind a slow one still counts against
		// the window, so a slow head never lets the input run ahead.
		for !exhausted && inflight+len(pending) < window && ctx.Err() == nil {
			batch := make([]In, 0, size)
			for len(batch) < size {
				v, ok := next()
				if !ok {
					exhausted = true
					break
				}
				batch = append(batch, v)
			}
			if len(batch) == 0 {
				return
			}
			read += len(batch)
			submitBatch(ctx, p, fn, seq, batch, results)
			seq++
			inflight++
		}
	}
	emit := func(b batchDone[Out]) bool {
		for i := range b.outs {
			done++
			if !yield(b.outs[i], b.errs[i]) {
				return false
			}
		}
		if cfg.progress != nil {
			cfg.progress(done, read)
		}
		return true
	}

	dispatch()
	for inflight > 0 {
		var b batchDone[Out]
		select {
		case b = <-results:
		case <-ctx.Done():
			yield(zero, ctx.Err())
			return
		}
		inflight--
		if cfg.batch == 0 {
			switch n := len(b.outs); {
			case b.took < batchTarget/2 && n == size:
				size = min(2*size, maxBatch)
			case b.took > 2*batchTarget && size > 1:
				size /= 2
			}
		}
		if ordered {
			pending[b.seq] = b
			for {
				nb, ok := pending[nextSeq]
				if !ok {
					break
				}
				delete(pending, nextSeq)
				nextSeq++
				if !emit(nb) {
					return
				}
			}
		} else if !emit(b) {
			return
		}
		dispatch()
	}
	if err := ctx.Err(); err != nil {
		yield(zero, err)
	}
}

// submitBatch queues one batch as one task; its results go to results.
func submitBatch[In, Out any](ctx context.Context, p *Pool, fn *actor.Function[In, Out], seq int, ins []In, results chan<- batchDone[Out]) {
	finish := func(outs []Out, errs []error, took time.Duration) {
		results <- batchDone[Out]{seq: seq, outs: outs, errs: errs, took: took}
	}
	failAll := func(err error) {
		errs := make([]error, len(ins))
		for i := range errs {
			errs[i] = err
		}
		finish(make([]Out, len(ins)), errs, 0)
	}
	p.enqueue(&task{
		ctx:  ctx,
		fail: failAll,
		run: func(_ context.Context, ref *actor.Ref) error {
			start := time.Now()
			outs, errs, err := actor.CallBatch(ctx, ref, fn, ins)
			if err == nil {
				finish(outs, errs, time.Since(start))
				return nil
			}
			err = p.shutdownError(err)
			failAll(err)
			var ee *actor.ExitError
			if errors.As(err, &ee) {
				return ee // the worker died under its task
			}
			return nil
		},
	})
}
