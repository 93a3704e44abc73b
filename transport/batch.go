package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Batches carry many stream items in one frame (PROTOCOL.md, section 5.4).
//
// The sender coalesces in its writer, as x/net/http2's and yamux's writers
// do: a Yield is encoded as a Batch of one item, and while the write token
// is held (a write is in flight, or the write loop has been woken but has
// not yet taken the queue), a Yield on the same stream whose frame would be
// the next in the queue is appended to that Batch instead, its count and
// the frame's length patched in place. Nothing waits for a timer, and the
// order of frames on the connection is the order they were queued in: an
// item joins a Batch only if no other frame was queued after it.
const (
	// maxBatchItems is the most items this side accepts in one Batch (its
	// Hello's "batch"), and the most it puts in one: unpacking a Batch
	// costs a Message per item, so the count, not only the frame's bytes,
	// must be bounded.
	maxBatchItems = 1024
	// maxBatchBytes bounds a Batch frame's body the sender builds, so that
	// a Batch stays within one of the writer's chunks.
	maxBatchBytes = copyMax
	// batchCountLen is the size of the item count the sender writes: an
	// array32 header, whose fixed width lets it be patched in place.
	batchCountLen = 5
)

// batchTail is the writer's open Batch: the last frame of its last chunk,
// which takes more items of stream id while nothing else is queued after
// it. start is the frame's offset in the chunk, count that of its item
// count (the four bytes after the array32 code), n its items.
type batchTail struct {
	open         bool
	id           uint64
	start, count int
	n            int
}

// asYield rewrites frame, a Batch of one item that starts at offset item
// (encodeItem's), in place into the Yield of that item and returns it: the
// envelope's head moves up over the item count, and kind and length are
// patched.
func asYield(frame []byte, item int) []byte {
	head := item - batchCountLen // the length, 0x93, the kind and the id
	copy(frame[batchCountLen:item], frame[:head])
	frame = frame[batchCountLen:]
	frame[frameHeader+1] = byte(KindYield)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-frameHeader))
	return frame
}

// encodeItem encodes a Batch frame of one item, payload (a Yield's
// payload), and returns it with the offset at which the item starts. The
// frame aliases the encoder's buffer, as encode's does.
func (fe *frameEncoder) encodeItem(id uint64, payload any) (frame []byte, item int, err error) {
	item, err = fe.batchHead(id, 1)
	if err != nil {
		return nil, 0, err
	}
	m := Message{Kind: KindYield}
	if err := encodePayload(fe.enc, &m, payload); err != nil {
		return nil, 0, fmt.Errorf("transport: encode Yield: %w", err)
	}
	b := fe.buf.Bytes()
	binary.BigEndian.PutUint32(b, uint32(len(b)-frameHeader))
	return b, item, nil
}

// batchHead starts a Batch frame of n items for stream id in the
// encoder's buffer and returns the offset at which its first item starts.
func (fe *frameEncoder) batchHead(id uint64, n int) (int, error) {
	if fe.enc == nil {
		fe.enc = msgpack.NewEncoder(&fe.buf)
	}
	fe.buf.Reset()
	fe.buf.Write([]byte{0, 0, 0, 0, 0x93, byte(KindBatch)})
	if err := fe.enc.EncodeUint(id); err != nil {
		return 0, fmt.Errorf("transport: encode Batch: %w", err)
	}
	fe.buf.Write([]byte{msgpcode.Array32, 0, 0, 0, 0})
	binary.BigEndian.PutUint32(fe.buf.Bytes()[fe.buf.Len()-4:], uint32(n))
	return fe.buf.Len(), nil
}

// encodeItems encodes a Batch frame of the first k of items (Yields'
// payloads), as many as fit in maxItems items and maxBytes bytes of body,
// and returns it with the offset at which its items start. k is 0, with
// no error, when the first item does not fit a Batch (too large, or nested
// too deep to sit one level below a Yield's payload): it must go as
// sendItem sends it. An item that fails to encode ends the run before it;
// its error is returned only when it is the first (k is then 0).
func (fe *frameEncoder) encodeItems(id uint64, items []any, maxItems, maxBytes int) (frame []byte, item, k int, err error) {
	item, err = fe.batchHead(id, 0)
	if err != nil {
		return nil, 0, 0, err
	}
	m := Message{Kind: KindYield}
	for k < len(items) && k < maxItems {
		mark := fe.buf.Len()
		if rm, ok := items[k].(*msgpack.RawMessage); ok && rm != nil && len(*rm) > 0 {
			// The typed encoders' path: no reflection. A raw item that is
			// not one value at a Batch's depth goes as sendItem sends it,
			// which says why, or sends it as a Yield.
			if n, serr := scanValue(*rm, MaxDepth-2); serr != nil || n != len(*rm) {
				break
			}
			fe.buf.Write(*rm)
			if fe.buf.Len()-frameHeader > maxBytes {
				fe.buf.Truncate(mark)
				break
			}
			k++
			continue
		}
		err = encodePayload(fe.enc, &m, items[k])
		if err == nil {
			n := fe.buf.Len() - mark
			if items[k] != nil && n > MaxDepth-3 {
				// See sendItem: only a long item can nest deep enough to
				// need the scan; inside the Batch it sits at depth 3.
				if _, serr := scanValue(fe.buf.Bytes()[mark:], MaxDepth-2); serr != nil {
					fe.buf.Truncate(mark)
					break
				}
			}
			if fe.buf.Len()-frameHeader > maxBytes {
				fe.buf.Truncate(mark)
				break
			}
			k++
			continue
		}
		fe.buf.Truncate(mark)
		if k > 0 {
			err = nil // the item is the next run's first, which reports it
			break
		}
		return nil, 0, 0, fmt.Errorf("transport: encode Yield: %w", err)
	}
	if k == 0 {
		return nil, 0, 0, nil
	}
	b := fe.buf.Bytes()
	binary.BigEndian.PutUint32(b, uint32(len(b)-frameHeader))
	binary.BigEndian.PutUint32(b[item-4:], uint32(k))
	return b, item, k, nil
}

// derefRaw returns the raw message v points to, if it is a
// *msgpack.RawMessage (for the checks a raw payload gets), and v itself
// otherwise.
func derefRaw(v any) any {
	if rm, ok := v.(*msgpack.RawMessage); ok && rm != nil {
		return *rm
	}
	return v
}

// sendItems queues items, each with its credit taken, in Batch frames of
// as many as fit, for a peer that accepts batches, and returns how many it
// queued: a run of items costs one encoder, one lock of the writer and one
// frame where sendItem costs each per item. An item that cannot join a
// Batch goes alone, as sendItem sends it.
func (c *Conn) sendItems(ctx context.Context, id uint64, items []any) (sent int, err error) {
	limit := min(maxBatchBytes, c.peerMaxFrame())
	maxItems := int(min(maxBatchItems, c.peer.Batch))
	fe := c.encoders.Get().(*frameEncoder)
	defer c.encoders.Put(fe)
	for sent < len(items) {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		if err := c.Err(); err != nil {
			return sent, err
		}
		frame, item, k, err := fe.encodeItems(id, items[sent:], maxItems, limit)
		switch {
		case err != nil:
			return sent, err
		case k == 0:
			err = c.sendItem(ctx, id, derefRaw(items[sent]))
			k = 1
		default:
			err = c.w.queueItems(ctx, c.done, id, frame, item, k, maxItems, limit)
			if errors.Is(err, errClosedWriter) {
				err = c.Err()
			}
		}
		if err != nil {
			return sent, err
		}
		sent += k
	}
	return sent, nil
}

// sendItem queues one stream item for a peer that accepts batches: the
// sending half of a Yield, whose credit the caller has taken.
func (c *Conn) sendItem(ctx context.Context, id uint64, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.Err(); err != nil {
		return err
	}
	fe := c.encoders.Get().(*frameEncoder)
	defer c.encoders.Put(fe)
	frame, item, err := fe.encodeItem(id, v)
	if err != nil {
		return err
	}
	if v != nil && len(frame)-item > MaxDepth-2 {
		// A Yield's payload may nest MaxDepth-1 levels (enqueue checks a Go
		// value's, encodePayload a raw one's); inside a Batch an item sits
		// one level deeper, so an item at the very limit goes as a Yield.
		// Each level costs a byte at least, so a shorter item needs no
		// scan.
		if _, err := scanValue(frame[frameHeader:], MaxDepth); err != nil {
			return c.send(ctx, &Message{Kind: KindYield, ID: id}, v, dataFrame)
		}
	}
	limit := min(maxBatchBytes, c.peerMaxFrame())
	items := int(min(maxBatchItems, c.peer.Batch))
	if len(frame)-frameHeader > limit {
		// A large item goes alone, as the Yield it would have been: a Batch
		// of one would be larger, and may not fit the peer's max_frame
		// where the Yield does.
		frame = asYield(frame, item)
		if n := len(frame) - frameHeader; n > c.peerMaxFrame() {
			return fmt.Errorf("%w: Yield of %d bytes, the peer's limit is %d", ErrFrameTooLarge, n, c.peer.MaxFrame)
		}
		owned := len(frame) > copyMax
		if owned {
			fe.detach() // frame is a part of the memory detached
		}
		_, err = c.w.queue(ctx, c.done, frame, owned, dataFrame, false, nil)
	} else {
		err = c.w.queueItems(ctx, c.done, id, frame, item, 1, items, limit)
	}
	if errors.Is(err, errClosedWriter) {
		return c.Err()
	}
	return err
}

// queueItems queues a Batch frame of n items, frame, whose items start at
// offset item; it waits for room as a dataFrame does. If the queue's last
// frame is an open Batch of the same stream with room for the items (at
// most maxItems items and maxBytes bytes of body), they are appended to
// it instead. frame is copied.
func (w *writer) queueItems(ctx context.Context, done <-chan struct{}, id uint64, frame []byte, item, n, maxItems, maxBytes int) error {
	w.mu.Lock()
	for w.pending >= maxPending {
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
	if !w.joinBatchLocked(id, frame[item:], n, maxItems, maxBytes) {
		w.appendLocked(frame, false)
		last := w.bufs[len(w.bufs)-1]
		start := len(last) - len(frame)
		w.batch = batchTail{open: true, id: id, start: start, count: start + item - 4, n: n}
	}
	busy := w.busy
	w.mu.Unlock()
	if !busy {
		w.wake()
	}
	return nil
}

// joinBatchLocked appends items, n encoded items, to the open Batch, if it
// is stream id's and has room, and reports whether it did.
func (w *writer) joinBatchLocked(id uint64, items []byte, n, maxItems, maxBytes int) bool {
	b := &w.batch
	if !b.open || !w.tailOpen || b.id != id || b.n+n > maxItems {
		return false
	}
	last := &w.bufs[len(w.bufs)-1]
	body := len(*last) - b.start - frameHeader
	if body+len(items) > maxBytes || cap(*last)-len(*last) < len(items) {
		return false
	}
	*last = append(*last, items...)
	b.n += n
	binary.BigEndian.PutUint32((*last)[b.start:], uint32(body+len(items)))
	binary.BigEndian.PutUint32((*last)[b.count:], uint32(b.n))
	w.pending += len(items)
	return true
}

// batch slices a Batch's items, one msgpack array of 1 to maxBatchLimit
// values, out of body; the frame has been scanned whole, so the items lie
// within it.
func (fd *frameDecoder) batch(body []byte) (msgpack.RawMessage, error) {
	p, err := fd.payload(body)
	if err != nil {
		return nil, err
	}
	if _, _, err := batchHeader(p); err != nil {
		return nil, err
	}
	return p, nil
}

// maxBatchLimit bounds the count a Batch may announce on the wire at all;
// a connection accepts at most what its Hello offered (maxBatchItems).
const maxBatchLimit = 1 << 16

// batchHeader reads the array header of a Batch's payload: the item count
// and the offset of the first item.
func batchHeader(p []byte) (n, off int, err error) {
	if len(p) == 0 {
		return 0, 0, errors.New("batch: no items")
	}
	switch c := p[0]; {
	case c >= msgpcode.FixedArrayLow && c <= msgpcode.FixedArrayHigh:
		n, off = int(c&0x0f), 1
	case c == msgpcode.Array16 && len(p) >= 3:
		n, off = int(binary.BigEndian.Uint16(p[1:])), 3
	case c == msgpcode.Array32 && len(p) >= 5:
		n64 := uint64(binary.BigEndian.Uint32(p[1:]))
		if n64 > math.MaxInt32 {
			return 0, 0, fmt.Errorf("batch: %d items", n64)
		}
		n, off = int(n64), 5
	default:
		return 0, 0, fmt.Errorf("batch: not an array (code 0x%02x)", c)
	}
	if n < 1 || n > maxBatchLimit {
		return 0, 0, fmt.Errorf("batch: %d items, outside 1..%d", n, maxBatchLimit)
	}
	return n, off, nil
}

// encodeBatch writes a Batch's payload, which must be one array of 1 to
// maxBatchLimit valid values.
func encodeBatch(e *msgpack.Encoder, m *Message) error {
	if _, _, err := batchHeader(m.Payload); err != nil {
		return err
	}
	return encodePayload(e, m, nil)
}

// deliverBatch queues a received Batch for the stream's receivers, who
// take its items out one by one as Yields, in order (splitBatch); called
// by the read loop, it never blocks. The items count against the allowance
// as as many Yields. An error is a protocol violation.
func (s *Stream) deliverBatch(m *Message) error {
	n, off, err := batchHeader(m.Payload)
	switch {
	case err != nil:
		return protocolError("Batch on stream %d: %v", s.id, err)
	case n > int(s.c.local.Batch): // dispatch refused a Batch where none was offered
		return protocolError("Batch of %d items on stream %d, more than the %d offered", n, s.id, s.c.local.Batch)
	}
	if ok, err := s.receivedItems(KindBatch, n); !ok {
		return err
	}
	// The frame was scanned whole on receipt, so the array holds exactly n
	// valid values: they are sliced out as they are taken.
	m.Payload, m.left = m.Payload[off:], n
	s.in.push(m) // dropped if this side closed the stream
	return nil
}

// receivedItems counts n items received in a message of kind (a Yield or
// a Batch) against the allowance, and reports whether to queue them: not
// for a stream that has ended (nil error), nor on the peer's violation
// (its error).
func (s *Stream) receivedItems(kind Kind, n int) (bool, error) {
	s.mu.Lock()
	next, v := s.st.next(evRecvYield, s.outgoing)
	if v == ignore {
		s.mu.Unlock()
		return false, nil
	}
	s.allowance -= n
	over := s.allowance < 0
	s.st = next // unchanged if refused
	s.mu.Unlock()
	switch {
	case over:
		return false, protocolError("%s beyond the granted credit on stream %d", kind, s.id)
	case v != accept:
		return false, s.refusal(v, kind)
	}
	return true, nil
}

// nextItem takes the next item out of a received Batch as a Yield.
func (m *Message) nextItem() Message {
	k := itemLen(m.Payload)
	item := Message{Kind: KindYield, ID: m.ID, Payload: msgpack.RawMessage(m.Payload[:k:k])}
	m.Payload = m.Payload[k:]
	m.left--
	return item
}

// splitBatch is the split of a stream's queue: a received Batch at the
// head gives its items one by one, and leaves once its last is taken.
func splitBatch(head *Message) (*Message, bool) {
	if head.Kind != KindBatch {
		return head, false
	}
	item := head.nextItem()
	return &item, head.left > 0
}

// RecvMany is [Stream.Recv] for many messages at once: it appends to buf
// the messages that have already arrived, up to cap(buf) in all (at least
// one), the items of a Batch frame copied out of it one by one; when none
// has arrived it waits for the next as Recv does, and then takes those that
// arrived with it. It returns buf and, when it could append nothing,
// Recv's error. Messages that have arrived cost one lock of the stream's
// queue and one of its credit for the lot, and no allocation, where Recv
// costs both per message and an allocation per item of a Batch. The credit
// of the Yields it took is granted as if each had been taken by Recv.
func (s *Stream) RecvMany(ctx context.Context, buf []Message) ([]Message, error) {
	n, limit := len(buf), max(cap(buf), len(buf)+1)
	if buf = s.takeArrived(buf, limit); len(buf) > n {
		return buf, nil
	}
	m, err := s.Recv(ctx)
	if err != nil {
		return buf, err
	}
	return s.takeArrived(append(buf, *m), limit), nil
}

// takeArrived appends to buf, up to limit messages in all, those already
// queued, without waiting, and counts the Yields among them as taken.
func (s *Stream) takeArrived(buf []Message, limit int) []Message {
	n := len(buf)
	q := &s.in
	q.mu.Lock()
	for len(buf) < limit && q.head < len(q.items) {
		head := q.items[q.head]
		if head.Kind != KindBatch {
			buf = append(buf, *head)
			q.dropHeadLocked()
			continue
		}
		for head.left > 0 && len(buf) < limit {
			buf = append(buf, head.nextItem())
		}
		if head.left == 0 {
			q.dropHeadLocked()
		}
	}
	more := q.head < len(q.items)
	q.mu.Unlock()
	if more && len(buf) > n {
		q.wake() // pass the signal on to another waiting receiver
	}
	yields, size := 0, 0
	for i := n; i < len(buf); i++ {
		if buf[i].Kind == KindYield {
			yields++
			size += len(buf[i].Payload)
		}
	}
	if yields > 0 {
		s.consumedYields(yields, size)
	}
	return buf
}

// itemLen returns the length of the msgpack value at the start of p, which
// lies within a frame scanned whole on receipt; 0 for a fault, which the
// scan ruled out. A scalar, the usual stream item, takes no walk.
func itemLen(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	switch c := p[0]; {
	case c <= 0x7f || c >= 0xe0: // fixint
		return 1
	case c >= 0xa0 && c <= 0xbf: // fixstr
		return min(len(p), 1+int(c&0x1f))
	case c >= 0xc0 && c <= 0xdf:
		if skip, items, ok := scanCode(c, p[1:]); ok && items == 0 {
			return min(len(p), 1+skip)
		}
	}
	n, err := scanValue(p, MaxDepth)
	if err != nil {
		return 0
	}
	return n
}
