package actor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
//
// A batch queued behind another ([StartBatch]) carries the id of the call
// it follows, between the two: [Func, After, Args].
type batchCall struct {
	_msgpack struct{} `msgpack:",as_array"` //lint:ignore U1000 msgpack reads this field's tag by reflection: as_array encodes the struct as an array
	Func     string
	Args     []msgpack.RawMessage
}

type batchReply struct {
	_msgpack struct{}           `msgpack:",as_array"` //lint:ignore U1000 msgpack reads this field's tag by reflection: as_array encodes the struct as an array
	Outs     msgpack.RawMessage // one array: a result per argument of the part, nil where it failed
	Errs     []batchErr         // indexed in the whole batch
}

type batchErr struct {
	_msgpack struct{} `msgpack:",as_array"` //lint:ignore U1000 msgpack reads this field's tag by reflection: as_array encodes the struct as an array
	Index    int
	Err      *transport.ErrorInfo
}

func init() {
	register(batchFunc, func(ctx context.Context, s *transport.Stream) (any, error) {
		name, after, args, ok := splitBatchCall(s.Args())
		if !ok {
			var b batchCall
			err := s.DecodeArgs(&b)
			if err == nil {
				err = errors.New("not a function name and an array of arguments")
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrBadArgument, batchFunc, err)
		}
		registry.RLock()
		runner := registry.batchers[name]
		registry.RUnlock()
		var run func(context.Context, *transport.Stream) (any, error)
		err := unknownFunction(name, identity(ctx))
		if runner != nil {
			// Decoded before the gate: while the batch ahead still runs.
			run, err = runner(name, args)
		}
		if g := gateOf(ctx); g != nil {
			if err := g.enter(ctx, s.ID(), after); err != nil {
				return nil, err
			}
			defer g.leave(s.ID())
		}
		if err != nil {
			return nil, err
		}
		progressOf(ctx).begin(s.ID())
		return run(ctx, s)
	})
}

// gateOf returns the gate of the link ctx's call came by: the parent's
// (a peer's calls have none: they are never queued behind each other).
func gateOf(ctx context.Context) *batchGate {
	// A peer's calls derive from the server's peerRoot, whose page is an
	// explicit nil; the parent's have a page, or none at all.
	if v := ctx.Value(progressKey{}); v != nil && v.(*progress) == nil {
		return nil
	}
	return &serverFor(ctx).queue
}

// splitBatchCall reads a batchCall without decoding its arguments: the
// function's name, and the bytes of the array of arguments.
func splitBatchCall(b []byte) (name string, after uint64, args []byte, ok bool) {
	if len(b) < 2 || b[0] != 0x92 && b[0] != 0x93 {
		return "", 0, nil, false
	}
	n, ok := readString(b[1:], &name)
	if !ok {
		return "", 0, nil, false
	}
	args = b[1+n:]
	if b[0] == 0x93 {
		if len(args) == 0 {
			return "", 0, nil, false
		}
		m, ok := readUnsigned(args, &after, math.MaxUint64)
		if !ok {
			return "", 0, nil, false
		}
		args = args[m:]
	}
	if _, _, ok := arrayHeader(args); !ok {
		return "", 0, nil, false
	}
	return name, after, args, true
}

// partHeader starts a part: the reply's array of two, then an array32
// header for the results whose count is filled in when the part is sent.
var partHeader = []byte{0x92, 0xdd, 0, 0, 0, 0}

// A batchRunner decodes a batch of calls of one function, from the bytes
// of the array of its arguments, and returns what runs them in the actor
// and returns the last part.
type batchRunner func(name string, args []byte) (func(context.Context, *transport.Stream) (any, error), error)

// batchRunnerOf returns the batchRunner of fn, declared as name: its
// argument and result codecs are resolved here, once per function.
func batchRunnerOf[In, Out any](name string, fn func(context.Context, In) (Out, error)) batchRunner {
	inC, outC := codecOf[In](), codecOf[Out]()
	return func(name string, args []byte) (func(context.Context, *transport.Stream) (any, error), error) {
		get, n, err := batchInputs(name, inC, args)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, s *transport.Stream) (any, error) {
			return runBatch(ctx, s, n, get, fn, outC, name)
		}, nil
	}
}

// batchInputs decodes a batch's arguments: all at once, with the typed
// codec or in one strict msgpack pass over the array; failing that (an
// argument that does not decode, or whose decoder panics) each on its own
// when its turn comes, so that only such an argument fails.
func batchInputs[In any](name string, inC sliceCodec[In], args []byte) (get func(i int) (In, error), n int, err error) {
	count, _, _ := arrayHeader(args)
	var ins []In
	ok := false
	if inC.fast() {
		ins, _, ok = inC.readArray(args, count, nil)
	}
	if !ok {
		ins = make([]In, 0, min(count, len(args))) // an argument takes a byte at least
		rec, err := tryDecode(transport.KindCall, args, &ins)
		ok = err == nil && rec == nil && len(ins) == count
	}
	if ok {
		return func(i int) (In, error) { return ins[i], nil }, count, nil
	}
	var raws []msgpack.RawMessage
	if err := decodeValid(transport.KindCall, args, &raws); err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrBadArgument, batchFunc, err)
	}
	return func(i int) (In, error) {
		var in In
		if err := decodeValid(transport.KindCall, raws[i], &in); err != nil {
			return in, fmt.Errorf("%w: %s(%T): %v", ErrBadArgument, name, in, err)
		}
		return in, nil
	}, len(raws), nil
}

// runBatch runs each of the n calls of a batch in turn, in the actor; a
// failed item (error, panic, bad argument, unencodable result) fails alone.
// It notes each item on the actor's progress page, and sends the results
// gathered every batchFlush. Results of a type with a codec are appended
// to the part without reflection, and the part goes out as raw bytes.
//
// The items run under one recover, not one each: a panic ends the run, its
// item fails, and a new run starts after it.
func runBatch[In, Out any](ctx context.Context, s *transport.Stream, n int, get func(int) (In, error), fn func(context.Context, In) (Out, error), outC sliceCodec[Out], name string) (any, error) {
	page, id := progressOf(ctx), s.ID()
	var due atomic.Bool
	flush := time.AfterFunc(batchFlush, func() { due.Store(true) })
	defer flush.Stop()
	var errs []batchErr
	var buf bytes.Buffer
	var enc *msgpack.Encoder
	if !outC.fast() {
		enc = msgpack.NewEncoder(&buf)
	} else {
		buf.Grow(len(partHeader) + 1 + min(n, 1<<15)*outC.size) // fewer copies as the part grows
	}
	buf.Write(partHeader)
	start := 0 // the first item of the part
	part := func(end int) any {
		out := buf.Bytes()
		binary.BigEndian.PutUint32(out[2:], uint32(end-start))
		if outC.fast() && len(errs) == 0 {
			// Nothing in it nests: the transport need not scan it.
			return msgpack.RawMessage(append(out, 0xc0))
		}
		return batchReply{Outs: out[1:], Errs: errs}
	}
	fail := func(i int, info *transport.ErrorInfo) {
		errs = append(errs, batchErr{Index: i, Err: info})
		buf.WriteByte(0xc0)
	}
	done := ctx.Done()
	var sendErr error
	for i, mark := 0, 0; i < n; {
		rec := panics.Try(func() {
			for ; i < n; i++ {
				page.item(id, uint32(2*i+1))
				select {
				case <-done:
					fail(i, errorInfo(identity(ctx), ctx.Err(), ""))
				default:
					mark = buf.Len()
					runOne(ctx, i, get, fn, outC, enc, &buf, name, fail)
				}
				page.item(id, uint32(2*i+2))
				if due.Load() && i+1 < n {
					if sendErr = s.Yield(ctx, part(i+1)); sendErr != nil {
						i = n
						return
					}
					buf.Reset()
					buf.Write(partHeader)
					errs, start = nil, i+1
					due.Store(false)
					flush.Reset(batchFlush)
				}
			}
		})
		if rec != nil { // item i panicked, in fn or in its result's encoder
			buf.Truncate(mark)
			fail(i, panicInfo(identity(ctx), rec))
			page.item(id, uint32(2*i+2))
			i++
		}
	}
	if sendErr != nil {
		return nil, sendErr
	}
	page.finish(id)
	return part(n), nil
}

// runOne runs item i and appends its result to buf, or fails it.
func runOne[In, Out any](ctx context.Context, i int, get func(int) (In, error), fn func(context.Context, In) (Out, error), outC sliceCodec[Out], enc *msgpack.Encoder, buf *bytes.Buffer, name string, fail func(int, *transport.ErrorInfo)) {
	in, err := get(i)
	if err != nil {
		fail(i, errorInfo(identity(ctx), err, ""))
		return
	}
	out, err := fn(ctx, in)
	if err != nil {
		fail(i, errorInfo(identity(ctx), err, ""))
		return
	}
	if enc == nil {
		buf.Write(outC.write(buf.AvailableBuffer(), out))
		return
	}
	mark := buf.Len()
	if err := enc.Encode(out); err != nil {
		buf.Truncate(mark)
		fail(i, errorInfo(identity(ctx), fmt.Errorf("actor: encode the result of %s: %w", name, err), ""))
	}
}

// CallBatch runs f once for each input in the actor ref, in order, in one
// round trip: the arguments travel in one frame and the results in one
// every few milliseconds, so a batch of tiny calls costs about one call. It
// returns one result and one error per input (a [*RemoteError] for an input
// whose call failed in the actor, an encode or decode error, or the
// [*nursery.PanicError] of a panic in the caller's own EncodeMsgpack or
// DecodeMsgpack, for one that could not cross) and, apart, an error that
// ended the whole batch. Inputs and results of the predeclared basic types
// (integers, floats, bool, string, []byte) cross without reflection.
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
	return StartBatch(ctx, ref, f, ins, BatchSlot{}).Wait()
}

// A BatchSlot is a batch's place in its actor's queue of batches, from
// [Batch.Slot]: [StartBatch] queues a batch behind it. The zero BatchSlot
// queues behind nothing.
type BatchSlot struct {
	ref *Ref
	id  uint64
}

// A Batch is a batch of calls on its way to an actor or running there,
// from [StartBatch]. Wait for it exactly once.
type Batch[Out any] struct {
	ctx   context.Context
	ref   *Ref
	name  string
	s     *transport.Stream // nil when the batch ended before it was sent
	sent  int
	index []int
	outs  []Out
	errs  []error
	err   error         // the batch's end, when s is nil
	done  func(CallEnd) // the instrumentation's, if any: called by Wait
}

// StartBatch is [CallBatch] in two steps: it sends the batch and returns
// at once (it blocks only while the link's send queue is full), and
// [Batch.Wait] collects what CallBatch returns. A batch started behind the
// slot of another, still under way on the same actor, is queued in the
// actor and runs once that one has run all its items: the actor goes from
// one to the next without a round trip in between, runs one at a time,
// and its progress page still tells, after a death, which item was
// running; the batch behind then fails with [ErrNotStarted] if it had not
// begun. A slot of another Ref is a mistake that Wait reports.
func StartBatch[In, Out any](ctx context.Context, ref *Ref, f *Function[In, Out], ins []In, behind BatchSlot) *Batch[Out] {
	if f == nil {
		return &Batch[Out]{err: fmt.Errorf("actor: StartBatch of a nil *Function[%T, %T]: declare it with actor.Func", *new(In), *new(Out))}
	}
	if behind.ref != nil && behind.ref != ref {
		return &Batch[Out]{err: fmt.Errorf("actor: %s: StartBatch behind a batch of another actor: queue a batch only behind one of the same Ref", f.name)}
	}
	b := &Batch[Out]{ctx: ctx, ref: ref, name: f.name, outs: make([]Out, len(ins)), errs: make([]error, len(ins))}
	var call any
	call, b.sent, b.index = encodeBatch(f.name, behind.id, ins, b.errs)
	if b.sent == 0 {
		return b
	}
	ctx, b.done = observeCall(ctx, ref, f.name, CallKindBatch)
	b.ctx = ctx
	s, err := ref.open(ctx, batchFunc, call)
	if err != nil {
		b.err = err
		if !errors.Is(err, ErrNotStarted) {
			b.outs, b.errs = nil, nil
			return b
		}
		for j := range b.sent {
			b.errs[at(b.index, j)] = err
		}
		return b
	}
	b.s = s
	return b
}

// Slot returns the batch's place in its actor's queue, for the next
// [StartBatch] to queue behind.
func (b *Batch[Out]) Slot() BatchSlot {
	if b.s == nil {
		return BatchSlot{}
	}
	return BatchSlot{ref: b.ref, id: b.s.ID()}
}

// Wait waits for the batch's results and returns what [CallBatch] does.
func (b *Batch[Out]) Wait() ([]Out, []error, error) {
	outs, errs, err := b.wait()
	if done := b.done; done != nil {
		b.done = nil
		done(CallEnd{Err: err})
	}
	return outs, errs, err
}

func (b *Batch[Out]) wait() ([]Out, []error, error) {
	if b.s == nil {
		return b.outs, b.errs, b.err
	}
	ctx, ref, s, outs, errs := b.ctx, b.ref, b.s, b.outs, b.errs
	defer s.Close()
	outC := codecOf[Out]()
	got := 0 // the results received, in argument order
	for {
		m, err := ref.recv(ctx, s)
		if err != nil {
			if ctx.Err() != nil && err == ctx.Err() {
				return nil, nil, err
			}
			batchDeath(ref, s.ID(), got, b.sent, b.index, errs, err)
			return outs, errs, err
		}
		switch m.Kind {
		case transport.KindYield, transport.KindReturn:
			n, err := decodePart(ref, b.name, m, outC, got, b.sent, b.index, outs, errs)
			if err != nil {
				return nil, nil, err
			}
			if got += n; m.Kind == transport.KindYield {
				continue
			}
			if got != b.sent {
				return nil, nil, fmt.Errorf("actor %s: a batch of %d calls of %s answered with %d results", ref, b.sent, b.name, got)
			}
			return outs, errs, nil
		case transport.KindError:
			return nil, nil, ref.answerError(b.name, m.Err)
		}
	}
}

// at is the input of argument j of a batch: index[j], or j when every
// input was sent (index is nil).
func at(index []int, j int) int {
	if index == nil {
		return j
	}
	return index[j]
}

// decodePart decodes the results of arguments got... of a batch of sent
// into outs and errs, from m, and returns how many there were. Results of a
// type with a codec are read straight off the frame into outs; otherwise,
// or when the part is not in the form the actor writes, msgpack decodes it.
func decodePart[Out any](ref *Ref, name string, m *transport.Message, outC sliceCodec[Out], got, sent int, index []int, outs []Out, errs []error) (int, error) {
	left := sent - got
	if outC.fast() {
		if n, ok := readFastPart(m.Payload, outC, got, left, index, outs); ok {
			return n, nil
		}
	}
	var part batchReply
	if err := m.Decode(&part); err != nil {
		return 0, fmt.Errorf("actor %s: a batch of %d calls of %s answered with unreadable results: %w", ref, sent, name, err)
	}
	direct := index == nil // every input was sent: decode in place
	var dec []Out
	if direct {
		dec = outs[got:got:len(outs)]
	} else {
		dec = make([]Out, 0, left)
	}
	if rec, err := tryDecode(m.Kind, part.Outs, &dec); err != nil || rec != nil || len(dec) > left {
		// Some result does not fit Out, or its decoder panicked: decode
		// them one by one, so that only those fail.
		var raws []msgpack.RawMessage
		if err := decodeValid(m.Kind, part.Outs, &raws); err != nil || len(raws) > left {
			return 0, fmt.Errorf("actor %s: a batch of %d calls of %s answered with unreadable results", ref, sent, name)
		}
		dec = make([]Out, len(raws))
		direct = false
		for j, raw := range raws {
			if rec, err := tryDecode(m.Kind, raw, &dec[j]); rec != nil {
				errs[at(index, got+j)] = &nursery.PanicError{Value: rec.Value, Stack: rec.Stack}
			} else if err != nil {
				errs[at(index, got+j)] = fmt.Errorf("actor: decode the result of %s: %w", name, err)
			}
		}
	}
	for j := 0; !direct && j < len(dec); j++ {
		outs[at(index, got+j)] = dec[j]
	}
	for _, e := range part.Errs {
		if e.Index < got || e.Index >= got+len(dec) || e.Err == nil {
			return 0, fmt.Errorf("actor %s: a batch answered with an error for item %d of %d", ref, e.Index, sent)
		}
		errs[at(index, e.Index)] = ref.answerError(name, e.Err)
	}
	return len(dec), nil
}

// readFastPart reads a part without errors in the form runBatch writes it
// for a type with a codec (the reply's array, the results, nil), straight
// into outs; ok is false for anything else, which msgpack then decodes.
func readFastPart[Out any](b []byte, outC sliceCodec[Out], got, left int, index []int, outs []Out) (n int, ok bool) {
	if len(b) < 2 || b[0] != 0x92 || b[len(b)-1] != 0xc0 {
		return 0, false
	}
	var dst []Out
	if index == nil {
		dst = outs[got:]
	}
	dec, size, ok := outC.readArray(b[1:], left, dst)
	if !ok || 1+size != len(b)-1 {
		return 0, false
	}
	if index != nil {
		for j, v := range dec {
			outs[index[got+j]] = v
		}
	}
	return len(dec), true
}

// tryDecode is decodeValid, with a panic in a type's own decoder recovered.
func tryDecode(kind transport.Kind, b []byte, v any) (rec *panics.Recovered, err error) {
	rec = panics.Try(func() { err = decodeValid(kind, b, v) })
	return rec, err
}

// decodeValid decodes b, a payload of a message of kind or a value inside
// one, into v, strictly, without scanning it again: the transport validated
// the frame it came in (transport.Message.Decode).
func decodeValid(kind transport.Kind, b []byte, v any) error {
	m := transport.Message{Kind: kind, Payload: b}
	return m.Decode(v)
}

// batchDeath gives each of the sent arguments of a batch without a result
// (from got on) its error after the actor died with death, from the
// actor's page.
func batchDeath(ref *Ref, id uint64, got, sent int, index []int, errs []error, death error) {
	known, began, state, stateOK := ref.callFate(id)
	done, running := int(state>>1), state&1 == 1
	if known && began && !stateOK && ref.batchFinished(id) {
		// A batch queued behind this one began after it ran every item.
		done, running, stateOK = sent, false, true
	}
	for j := got; j < sent; j++ {
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
		errs[at(index, j)] = err
	}
}

// encodeBatch encodes the call of a batch: its function's name and the
// array of its inputs, in one buffer. Inputs of a type with a codec are
// written without reflection and go out as raw bytes (index is then nil:
// every input was sent). Otherwise msgpack encodes them one after the
// other; an input that fails to encode gets its error in errs and is left
// out, and so does one whose encoder panics (its error is the
// [*nursery.PanicError]); index maps each argument sent to its input, and
// the transport checks the call's depth.
func encodeBatch[In any](name string, after uint64, ins []In, errs []error) (call any, sent int, index []int) {
	if inC := codecOf[In](); inC.fast() {
		b := appendCallHead(make([]byte, 0, 32+len(name)+len(ins)*inC.size), name, after)
		b = appendArrayHeader(b, len(ins))
		for _, in := range ins {
			b = inC.write(b, in)
		}
		return msgpack.RawMessage(b), len(ins), nil
	}
	var buf bytes.Buffer
	buf.Write(appendCallHead(buf.AvailableBuffer(), name, after))
	buf.Write(partHeader[1:]) // an array32 header, its count filled in below
	head := buf.Len()
	enc := msgpack.NewEncoder(&buf)
	end := head // of the last input encoded
	index = make([]int, 0, len(ins))
	for next := 0; next < len(ins); {
		i := next
		rec := panics.Try(func() {
			for ; i < len(ins); i++ {
				if err := enc.Encode(ins[i]); err != nil {
					buf.Truncate(end)
					errs[i] = fmt.Errorf("actor: encode the argument of %s: %w", name, err)
					continue
				}
				end = buf.Len()
				index = append(index, i)
			}
		})
		if rec != nil { // input i panicked: drop what it wrote, go on after it
			buf.Truncate(end)
			enc = msgpack.NewEncoder(&buf)
			errs[i] = &nursery.PanicError{Value: rec.Value, Stack: rec.Stack}
			i++
		}
		next = i
	}
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[head-4:], uint32(len(index)))
	sent = len(index)
	if sent == len(ins) {
		index = nil
	}
	return rawCall(b), sent, index
}

// appendCallHead appends a batchCall's array header, its function's name
// and, for a batch queued behind another, the id of that one's call.
func appendCallHead(b []byte, name string, after uint64) []byte {
	if after == 0 {
		return appendString(append(b, 0x92), name)
	}
	return appendUint(appendString(append(b, 0x93), name), after)
}

// rawCall is an encoded batch call that the transport scans (for its
// depth) as it would any Go value's encoding.
type rawCall []byte

// EncodeMsgpack writes the call as it is.
func (c rawCall) EncodeMsgpack(enc *msgpack.Encoder) error {
	_, err := enc.Writer().Write(c)
	return err
}
