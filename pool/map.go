package pool

import (
	"context"
	"errors"
	"iter"
	"sync"
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
// travel thousands to a frame and slow ones one at a time. A batch holds
// at most maxBatch items, or maxSmallBatch when its inputs and results are
// numbers or bools (at most 9 bytes each on the wire, so a batch's frame
// stays under 300 KiB), where fewer batches save ~15% of the CPU a tiny
// task costs.
const (
	batchTarget   = 20 * time.Millisecond
	maxBatch      = 8192
	maxSmallBatch = 32768
)

// small reports whether values of T are a number or a bool.
func small[T any]() bool {
	switch any(*new(T)).(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, bool:
		return true
	}
	return false
}

// Map runs fn on every input across the pool's workers and yields the
// results in input order, each with its own error (a failed task fails
// alone, at its position). A worker that dies fails only the input it was
// running, with its [*actor.ExitError]: the results its batch had sent
// (every few milliseconds) are kept, and its other inputs run on another
// worker, including any that had run but whose results died with it (so an
// input can run twice, but yields once). Inputs are read lazily, at most two batches per
// worker ahead of the consumer; tiny tasks are batched automatically. If the
// consumer stops early, or ctx is cancelled (the iterator then yields ctx's
// error last), dispatch stops and the batches in flight are cancelled. Once
// the pool refuses new work ([Pool.Shutdown], [Pool.Close], a break),
// dispatch stops too: the batches in flight end as the pool ends them, and
// the iterator yields the pool's error ([Pool.Err]) last, the inputs not
// yet sent unread or unrun.
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

	window := 2 * p.Workers()
	results := make(chan batchDone[Out], window) // never blocks a batch
	size := cfg.batch
	if size == 0 {
		size = 1
	}
	most := maxBatch
	if small[In]() && small[Out]() {
		most = maxSmallBatch
	}
	var zero Out
	inflight, seq, read, done, nextSeq := 0, 0, 0, 0, 0
	pending := map[int]batchDone[Out]{}

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
	// receive waits for a batch to end and yields what is then in order;
	// false means the Map is over (the consumer stopped, or ctx ended: its
	// error was yielded).
	receive := func() bool {
		var b batchDone[Out]
		select {
		case b = <-results:
		case <-ctx.Done():
			yield(zero, ctx.Err())
			return false
		}
		inflight--
		if cfg.batch == 0 {
			switch n := len(b.outs); {
			case b.took < batchTarget/2 && n == size:
				// As joblib: toward the size that would take the target,
				// at least doubling, at most 16 times larger.
				grow := min(16, max(2, int(batchTarget/max(b.took, time.Microsecond))))
				// No batch bigger than a worker's share of what was read
				// so far: the input may end soon, and its last batches
				// should not leave the other workers idle.
				size = min(grow*size, most, max(read/(window/2), 16))
			case b.took > 2*batchTarget && size > 1:
				size /= 2
			}
		}
		if !ordered {
			return emit(b)
		}
		pending[b.seq] = b
		for {
			nb, ok := pending[nextSeq]
			if !ok {
				return true
			}
			delete(pending, nextSeq)
			nextSeq++
			if !emit(nb) {
				return false
			}
		}
	}
	var batch []In
	// refused is the pool's error once it has shut down, closed or broken:
	// dispatch then stops, as when ctx ends, rather than fail every input
	// left (an endless input would make an endless Map).
	var refused error
	send := func() bool {
		if refused = p.Err(); refused != nil {
			return false
		}
		read += len(batch)
		submitBatch(ctx, p, fn, seq, batch, results)
		seq++
		inflight++
		batch = nil
		return true
	}
	// drain waits for the batches in flight, then yields refused last.
	drain := func() {
		for inflight > 0 {
			if !receive() {
				return
			}
		}
		yield(zero, refused)
	}

	// The input is ranged over here, not pulled an item at a time (a
	// coroutine switch each): items gather into the batch, and a full
	// batch is sent once the window has room, which it waits for before
	// the next item is read. In order, a batch parked behind a slow one
	// still counts against the window, so a slow head never lets the input
	// run ahead.
	over := false
	for v := range ins {
		if batch == nil {
			batch = make([]In, 0, size)
		}
		if batch = append(batch, v); len(batch) < size {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if !send() {
			drain()
			return
		}
		for inflight+len(pending) >= window {
			if !receive() {
				over = true
				break
			}
		}
		if over {
			break
		}
	}
	if over {
		return
	}
	// The input's rest goes out in a part per worker (when large enough),
	// so that no worker idles while another runs the whole tail.
	workers := window / 2
	rest, part := batch, max(len(batch)/workers, 64)
	if cfg.batch != 0 {
		part = cfg.batch
	}
	for len(rest) > 0 && ctx.Err() == nil {
		for inflight+len(pending) >= window {
			if !receive() {
				return
			}
		}
		n := min(part, len(rest))
		batch, rest = rest[:n:n], rest[n:]
		if !send() {
			drain()
			return
		}
	}
	for inflight > 0 {
		if !receive() {
			return
		}
	}
	if err := ctx.Err(); err != nil {
		yield(zero, err)
	}
}

// submitBatch queues one batch as one task; its results go to results,
// once every input has its result or its error. When its worker dies, the
// inputs that never started, and those whose results the death lost, go
// back to the head of the queue as the same task; only the input that was
// running fails, with the worker's death.
func submitBatch[In, Out any](ctx context.Context, p *Pool, fn *actor.Function[In, Out], seq int, ins []In, results chan<- batchDone[Out]) {
	// outs and errs are the first run's (most batches have only one); left
	// lists the inputs still to run, by position, after a worker's death.
	var outs []Out
	var errs []error
	var left []int
	var start time.Time // when the batch was sent, the last time
	var once sync.Once
	ctx, end := observeTask(ctx, fn.Name())
	finish := func() {
		once.Do(func() {
			if end != nil {
				end(firstErr(errs))
			}
			results <- batchDone[Out]{seq: seq, outs: outs, errs: errs, took: time.Since(start)}
		})
	}
	fail := func(err error) {
		if outs == nil {
			outs, errs = make([]Out, len(ins)), make([]error, len(ins))
			for i := range errs {
				errs[i] = err
			}
		}
		for _, i := range left {
			errs[i] = err
		}
		finish()
	}
	t := &task{ctx: ctx, fail: fail}
	t.start = func(wctx context.Context, ref *actor.Ref, behind actor.BatchSlot) (actor.BatchSlot, func() error) {
		run := ins
		if outs != nil {
			run = make([]In, len(left))
			for j, i := range left {
				run[j] = ins[i]
			}
		}
		start = time.Now()
		b := actor.StartBatch(ctx, ref, fn, run, behind)
		return b.Slot(), func() error {
			o, e, err := b.Wait()
			if o == nil { // ctx ended, or the batch as a whole failed
				fail(p.cut(wctx, ref, err))
				return nil
			}
			first := outs == nil
			if first && err == nil { // no death: every item has its answer
				for j := range e {
					if e[j] != nil {
						e[j] = p.cut(wctx, ref, e[j])
					}
				}
				outs, errs = o, e
				finish()
				return nil
			}
			if first {
				outs, errs = o, e
			}
			var again []int
			for j := range run {
				i := j
				if !first {
					i = left[j]
				}
				switch {
				case errors.Is(e[j], actor.ErrNotStarted) || errors.Is(e[j], actor.ErrResultLost):
					again = append(again, i)
					continue
				case e[j] != nil:
					e[j] = p.cut(wctx, ref, e[j])
				}
				outs[i], errs[i] = o[j], e[j]
			}
			if len(again) > 0 {
				left = again
				p.requeue(t, err)
			} else {
				finish()
			}
			return err // nil, or the worker's death: Wait returned the results all the same
		}
	}
	t.run = func(wctx context.Context, ref *actor.Ref) error {
		_, wait := t.start(wctx, ref, actor.BatchSlot{})
		return wait()
	}
	p.enqueue(t)
}
