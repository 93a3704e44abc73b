package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// DefaultMaxFrame is the default limit on a frame's body, in bytes.
const DefaultMaxFrame = 64 << 20

// frameHeader is the size of a frame's length prefix: a big-endian uint32.
const frameHeader = 4

// growStep bounds how much ReadFrame allocates ahead of the bytes that
// actually arrived, so a peer that announces a large frame and then stalls
// costs little memory: a body starts with growStep bytes at most and
// doubles, up to its length, as the bytes arrive. It is a mebibyte and
// room for an envelope, so that a payload of 1 MiB is read into one buffer
// without a copy.
const growStep = 1<<20 + 1<<12

// ReadFrame reads one frame from r and returns its body. A length over max
// gives an error matching [ErrFrameTooLarge] before anything is allocated; a
// frame cut short gives one matching [io.ErrUnexpectedEOF]; a clean end of
// input before the first byte gives [io.EOF].
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	return readFrame(r, max, nil)
}

// Frames up to slabMax bytes are read into a shared slab instead of an
// allocation of their own; payloads alias it, so a retained payload keeps
// at most one slab alive. A connection's first slab is slabMax bytes and
// each next one twice the last, up to slabSize: an idle connection holds
// 4 KiB, a busy one amortises its allocations over 64 KiB. A slab is never
// written again once a frame is carved from it (a full slab is dropped,
// not reused), so what aliases it stays valid.
//
// A frame over slabMax bytes is read into a buffer of its own, sized to
// the frame (see growStep), which nothing else shares: a payload decoded
// from it in place ([Message.Decode] of a []byte or a msgpack.RawMessage
// over slabMax bytes) owns that buffer from then on.
const (
	slabSize = 64 << 10
	slabMax  = 4 << 10
)

// frameReader reads frames, carving small ones out of a slab. A frame
// larger than the reader's buffer may be read in several turns (see
// reading.waitFrame): big holds its body while it is read, got how many of
// its n bytes arrived, and the next read goes on from there.
type frameReader struct {
	r    io.Reader
	slab []byte
	hdr  [frameHeader]byte // the header being read: a local array would escape to the heap through io.ReadFull

	big    []byte // the large frame being read, nil between frames
	got, n int
}

func (fr *frameReader) read(max int) ([]byte, error) {
	if fr.big == nil {
		return readFrame(fr.r, max, fr)
	}
	return fr.finish()
}

// startBig begins reading a frame of n bytes, whose header is consumed,
// into a buffer of its own.
func (fr *frameReader) startBig(n int) {
	fr.big, fr.got, fr.n = make([]byte, min(n, growStep)), 0, n
}

// left returns how many bytes of the large frame being read are still to
// come, 0 when none is.
func (fr *frameReader) left() int { return fr.n - fr.got }

// finish reads the rest of the large frame being read (fill) and returns
// it.
func (fr *frameReader) finish() ([]byte, error) {
	if err := fr.fill(); err != nil {
		return nil, err
	}
	body := fr.big
	fr.big, fr.got, fr.n = nil, 0, 0
	return body, nil
}

// fill reads the large frame being read until it is whole. On an error
// what arrived is kept: after an interrupted read (a deadline: see
// reading.waitFrame) the next call goes on from there.
func (fr *frameReader) fill() error {
	for fr.got < fr.n {
		m, err := io.ReadFull(fr.r, fr.big[fr.got:])
		fr.got += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("transport: truncated frame: %d of %d bytes: %w", fr.got, fr.n, err)
		}
		if fr.got < fr.n {
			// The peer sent what was allocated: double, up to the length.
			grown := make([]byte, min(fr.n, 2*len(fr.big)))
			copy(grown, fr.big)
			fr.big = grown
		}
	}
	return nil
}

func (fr *frameReader) carve(n int) []byte {
	if cap(fr.slab)-len(fr.slab) < n {
		fr.slab = make([]byte, 0, min(slabSize, max(slabMax, 2*cap(fr.slab))))
	}
	start := len(fr.slab)
	fr.slab = fr.slab[:start+n]
	return fr.slab[start : start+n : start+n]
}

// be32 reads a big-endian uint32 length or count as an int, clamped to
// math.MaxInt where int has 32 bits, so that a hostile length is too large,
// never negative.
func be32(b []byte) int { return int(min(uint64(binary.BigEndian.Uint32(b)), math.MaxInt)) }

func readFrame(r io.Reader, max int, fr *frameReader) ([]byte, error) {
	var hdr []byte
	if fr != nil {
		hdr = fr.hdr[:]
	} else {
		hdr = make([]byte, frameHeader)
	}
	if _, err := io.ReadFull(r, hdr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("transport: truncated frame header: %w", err)
		}
		return nil, err
	}
	n := be32(hdr)
	if n > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	if fr != nil && n <= slabMax {
		body := fr.carve(n)
		if m, err := io.ReadFull(r, body); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("transport: truncated frame: %d of %d bytes: %w", m, n, err)
		}
		return body, nil
	}
	// Reads go straight into the body: a bufio.Reader hands a read at
	// least its own size to the socket directly, after what it holds.
	if fr == nil {
		fr = &frameReader{r: r}
	}
	fr.startBig(n)
	body, err := fr.finish()
	if err != nil {
		fr.big, fr.got, fr.n = nil, 0, 0 // a Conn fails on it; ReadFrame's caller starts over
	}
	return body, err
}

// AppendFrame appends m as one frame (length prefix and msgpack envelope)
// to dst. It is what a Conn sends; it is exported for tools and for peers
// written in Go without a Conn.
func AppendFrame(dst []byte, m *Message) ([]byte, error) {
	var fe frameEncoder
	b, err := fe.encode(m, nil)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// frameEncoder encodes messages into frames, reusing its buffer.
type frameEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

// encode encodes m as a frame. payload, when not nil, is encoded in place
// of m.Payload, straight into the frame. The result aliases the encoder's
// buffer and is valid until the next encode or detach.
func (fe *frameEncoder) encode(m *Message, payload any) ([]byte, error) {
	head, tail, err := fe.encodeSplit(m, payload)
	if err != nil || tail == nil {
		return head, err
	}
	fe.buf.Write(tail)
	return fe.buf.Bytes(), nil
}

// splitMin is the smallest payload encodeSplit leaves out of the frame's
// buffer: below it, copying the bytes costs less than a buffer of their
// own in the write.
const splitMin = copyMax

// encodeSplit encodes m as encode does, except that a payload of at least
// splitMin bytes that is a []byte or a msgpack.RawMessage is not copied:
// head is the frame up to the payload's bytes (its length prefix counts
// them) and tail the payload's own bytes, to be written after head. A
// []byte's tail is its contents (head ends with the bin header); a raw
// payload is validated as encode does and is the whole tail. Otherwise
// tail is nil and head the whole frame. head aliases the encoder's
// buffer, as encode's result does.
func (fe *frameEncoder) encodeSplit(m *Message, payload any) (head, tail []byte, err error) {
	if fe.enc == nil {
		fe.enc = msgpack.NewEncoder(&fe.buf)
	}
	fe.buf.Reset()
	fe.buf.Write(make([]byte, frameHeader))
	p := payload
	if p == nil {
		p = m.Payload
	}
	switch v := p.(type) {
	case []byte:
		if len(v) >= splitMin && m.endsWithPayload() {
			tail, payload = v, binHeader(len(v))
		}
	case msgpack.RawMessage:
		if len(v) >= splitMin && m.endsWithPayload() {
			if n, err := scanValue(v, MaxDepth-1); err != nil || n != len(v) {
				return nil, nil, fmt.Errorf("transport: encode %s: raw payload is not one valid msgpack value (%d bytes): %v", m.Kind, len(v), err)
			}
			tail, payload = v, binHeader(-1)
		}
	}
	if err := fe.envelope(m, payload); err != nil {
		return nil, nil, fmt.Errorf("transport: encode %s: %w", m.Kind, err)
	}
	b := fe.buf.Bytes()
	n := len(b) - frameHeader + len(tail)
	if uint64(n) > math.MaxUint32 {
		return nil, nil, fmt.Errorf("%w: %s of %d bytes, more than a frame can say", ErrFrameTooLarge, m.Kind, n)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, tail, nil
}

// endsWithPayload reports whether the envelope of m ends with its payload,
// which encodeSplit can then leave out of the buffer: not a Call's with
// metadata, which follows its payload.
func (m *Message) endsWithPayload() bool {
	switch m.Kind {
	case KindCall:
		return len(m.Metadata) == 0
	case KindStarted, KindYield, KindReturn:
		return true
	}
	return false
}

// binHeader stands in for a payload that encodeSplit leaves out: it
// encodes as the msgpack bin header of that many bytes, or as nothing
// when negative (a raw payload, which is its own header).
type binHeader int

// EncodeMsgpack implements msgpack.CustomEncoder.
func (h binHeader) EncodeMsgpack(e *msgpack.Encoder) error {
	if h < 0 {
		return nil
	}
	return e.EncodeBytesLen(int(h))
}

// detach hands the current frame's memory to the caller and starts a fresh
// buffer, for frames too large to copy.
func (fe *frameEncoder) detach() []byte {
	b := fe.buf.Bytes()
	fe.buf = bytes.Buffer{}
	return b
}

func (fe *frameEncoder) envelope(m *Message, payload any) error {
	e := fe.enc
	if !m.Kind.valid() {
		return fmt.Errorf("unknown kind %d", m.Kind)
	}
	if err := e.EncodeArrayLen(m.fields()); err != nil {
		return err
	}
	if err := e.EncodeUint(uint64(m.Kind)); err != nil {
		return err
	}
	if err := e.EncodeUint(m.ID); err != nil {
		return err
	}
	switch m.Kind {
	case KindHello:
		if m.Hello == nil {
			return errors.New("Hello message without Hello")
		}
		return encodeHello(e, m.Hello)
	case KindCall:
		if err := e.EncodeString(m.Func); err != nil {
			return err
		}
		if err := encodePayload(e, m, payload); err != nil || len(m.Metadata) == 0 {
			return err
		}
		return encodeMetadata(e, m.Metadata)
	case KindStarted, KindYield, KindReturn:
		return encodePayload(e, m, payload)
	case KindBatch:
		return encodeBatch(e, m)
	case KindError:
		if m.Err == nil {
			return errors.New("Error message without ErrorInfo")
		}
		return encodeErrorInfo(e, m.Err)
	case KindCredit:
		return e.EncodeUint(uint64(m.Credit))
	}
	return nil
}

func encodePayload(e *msgpack.Encoder, m *Message, payload any) error {
	if payload == nil {
		payload = m.Payload
	}
	// A pointer to a raw message is the raw message: msgpack would write
	// its bytes unchecked, or none for an empty one.
	if prm, ok := payload.(*msgpack.RawMessage); ok && prm != nil {
		payload = *prm
	}
	if rm, ok := payload.(msgpack.RawMessage); ok {
		// A raw payload is written as it is, so it must be exactly one
		// valid value; an empty one stands for nil.
		if len(rm) == 0 {
			return e.EncodeNil()
		}
		if n, err := scanValue(rm, MaxDepth-1); err != nil || n != len(rm) {
			return fmt.Errorf("raw payload is not one valid msgpack value (%d bytes): %v", len(rm), err)
		}
	}
	return e.Encode(payload)
}

// encodeHello writes the Hello's eight keys, and "host" after them when
// the sender has one, then "batch" when it accepts batches.
func encodeHello(e *msgpack.Encoder, h *Hello) error {
	kv := []any{
		"version", uint64(h.Version),
		"name", h.Actor.Name,
		"id", h.Actor.ID,
		"pid", int64(h.Actor.PID),
		"role", h.Role,
		"initiator", h.Initiator,
		"window", uint64(h.Window),
		"max_frame", uint64(h.MaxFrame),
	}
	if h.Actor.Host != "" {
		kv = append(kv, "host", h.Actor.Host)
	}
	if h.Batch != 0 {
		kv = append(kv, "batch", uint64(h.Batch))
	}
	return encodeMap(e, kv...)
}

// encodeErrorInfo writes the six keys of version 1 always, and the later
// ones only when they are set.
func encodeErrorInfo(e *msgpack.Encoder, ei *ErrorInfo) error {
	kv := []any{
		"type", ei.Type,
		"message", ei.Message,
		"stack", ei.Stack,
		"source", ei.Source,
		"via", ei.Via,
		"is", ei.Is,
	}
	if len(ei.Context) > 0 {
		kv = append(kv, "context", ei.Context)
	}
	if ei.Exit != nil {
		kv = append(kv, "exit", ei.Exit)
	}
	if len(ei.Group) > 0 {
		if len(ei.Group) > MaxErrorGroup {
			return fmt.Errorf("transport: an error group of %d members, more than MaxErrorGroup (%d): send fewer", len(ei.Group), MaxErrorGroup)
		}
		kv = append(kv, "group", ei.Group)
	}
	return encodeMap(e, kv...)
}

// encodeMap writes key/value pairs as one msgpack map with string keys.
func encodeMap(e *msgpack.Encoder, kv ...any) error {
	if err := e.EncodeMapLen(len(kv) / 2); err != nil {
		return err
	}
	for i := 0; i < len(kv); i += 2 {
		if err := e.EncodeString(kv[i].(string)); err != nil {
			return err
		}
		if err := encodeValue(e, kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func encodeValue(e *msgpack.Encoder, v any) error {
	switch v := v.(type) {
	case string:
		return e.EncodeString(v)
	case uint64:
		return e.EncodeUint(v)
	case int64:
		return e.EncodeInt(v)
	case bool:
		return e.EncodeBool(v)
	case ActorID:
		if v.Host != "" {
			return encodeMap(e, "name", v.Name, "id", v.ID, "pid", int64(v.PID), "host", v.Host)
		}
		return encodeMap(e, "name", v.Name, "id", v.ID, "pid", int64(v.PID))
	case []ActorID:
		if err := e.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, a := range v {
			if err := encodeValue(e, a); err != nil {
				return err
			}
		}
		return nil
	case *ExitInfo:
		if v.Host != "" {
			return encodeMap(e, "code", int64(v.Code), "signal", int64(v.Signal), "stderr", v.Stderr, "host", v.Host)
		}
		return encodeMap(e, "code", int64(v.Code), "signal", int64(v.Signal), "stderr", v.Stderr)
	case []*ErrorInfo:
		if err := e.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, m := range v {
			if len(m.Group) > 0 {
				return errors.New("transport: a member of an error group has a group of its own: flatten it")
			}
			if err := encodeErrorInfo(e, m); err != nil {
				return err
			}
		}
		return nil
	case []string:
		if err := e.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, s := range v {
			if err := e.EncodeString(s); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("transport: cannot encode %T", v)
}
