package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Metadata is what a Call carries beside its function and payload: string
// keys and values for the layers around the call, such as a trace
// context (W3C "traceparent", "tracestate", "baggage"), as gRPC's metadata
// and HTTP's headers carry them. It crosses as the Call's optional fifth
// element (PROTOCOL.md, section 5.1), only when it has entries; a peer that
// predates it ignores it. It holds at most [MaxMetadataEntries] entries of
// at most [MaxMetadataBytes] bytes in all (keys and values).
type Metadata map[string]string

// The bounds of a Call's metadata: a sender refuses more, and a receiver
// treats more as a protocol violation.
const (
	// MaxMetadataEntries is the most entries a Call's metadata may have.
	MaxMetadataEntries = 64
	// MaxMetadataBytes is the most bytes a Call's metadata keys and values
	// may have in all.
	MaxMetadataBytes = 8 << 10
)

type metadataKey struct{}

// ContextWithMetadata returns a copy of ctx that carries md: each
// [Conn.Call] made with it, or with a context derived from it, sends md
// with its Call. It replaces the metadata ctx already carried (read it with
// [MetadataFromContext] to add to it); an empty md sends none. md must not
// be changed afterwards: the calls read it as they send. md is not checked
// here: a Call whose metadata is over [MaxMetadataEntries] or
// [MaxMetadataBytes] fails in Conn.Call, with an error that says which,
// and the connection carries on. It costs what context.WithValue does
// (one allocation).
func ContextWithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, md)
}

// MetadataFromContext returns the metadata ctx carries for the calls made
// with it ([ContextWithMetadata]), or nil. It does not copy it: the caller
// must not change it. It costs one lookup of a context value.
func MetadataFromContext(ctx context.Context) Metadata {
	md, _ := ctx.Value(metadataKey{}).(Metadata)
	return md
}

// Metadata returns the metadata the Call carried, on the callee's side
// (nil on the caller's, and when it carried none). It is decoded with the
// Call, so this copies nothing; the caller must not change the map.
func (s *Stream) Metadata() Metadata { return s.md }

// checkMetadata says what is wrong with md for a Call, if anything.
func checkMetadata(md Metadata) error {
	if len(md) > MaxMetadataEntries {
		return fmt.Errorf("metadata of %d entries, more than MaxMetadataEntries (%d): send fewer", len(md), MaxMetadataEntries)
	}
	size := 0
	for k, v := range md {
		size += len(k) + len(v)
	}
	if size > MaxMetadataBytes {
		return fmt.Errorf("metadata of %d bytes, more than MaxMetadataBytes (%d): send less", size, MaxMetadataBytes)
	}
	return nil
}

// encodeMetadata writes md as a msgpack map of strings.
func encodeMetadata(e *msgpack.Encoder, md Metadata) error {
	if err := checkMetadata(md); err != nil {
		return err
	}
	if err := e.EncodeMapLen(len(md)); err != nil {
		return err
	}
	for k, v := range md {
		if err := e.EncodeString(k); err != nil {
			return err
		}
		if err := e.EncodeString(v); err != nil {
			return err
		}
	}
	return nil
}

// metadata reads a Call's metadata map out of body: string keys and
// values, each key once, within the bounds; an empty map is no metadata.
// Each string is measured by its header before it is copied out, so a
// hostile one costs no allocation of its size.
func (fd *frameDecoder) metadata(body []byte) (Metadata, error) {
	d := fd.dec
	n, err := d.DecodeMapLen()
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if n < 0 {
		return nil, errors.New("metadata: nil, need a map")
	}
	if n > MaxMetadataEntries {
		return nil, fmt.Errorf("metadata of %d entries, more than %d", n, MaxMetadataEntries)
	}
	if n == 0 {
		return nil, nil
	}
	md := make(Metadata, n)
	left := MaxMetadataBytes // of keys and values
	for range n {
		k, err := fd.metadataString(body, "key", &left)
		if err != nil {
			return nil, err
		}
		v, err := fd.metadataString(body, "value of "+shortKey(k), &left)
		if err != nil {
			return nil, err
		}
		if _, dup := md[k]; dup {
			return nil, fmt.Errorf("metadata key %q repeated", shortKey(k))
		}
		md[k] = v
	}
	return md, nil
}

// metadataString reads a msgpack str of at most *left bytes, which it
// takes from *left, refusing any other type (msgpack's DecodeString would
// take a nil or a bin too) and a longer str by its header alone.
func (fd *frameDecoder) metadataString(body []byte, what string, left *int) (string, error) {
	b := body[len(body)-fd.r.Len():] // scanValue checked the whole body: the header is there
	if len(b) == 0 {
		return "", fmt.Errorf("metadata %s: %w", what, io.ErrUnexpectedEOF)
	}
	var n int
	switch c := b[0]; {
	case msgpcode.IsFixedString(c):
		n = int(c & msgpcode.FixedStrMask)
	case c == msgpcode.Str8:
		n = int(b[1])
	case c == msgpcode.Str16:
		n = int(binary.BigEndian.Uint16(b[1:]))
	case c == msgpcode.Str32:
		n = be32(b[1:])
	default:
		return "", fmt.Errorf("metadata %s: msgpack code 0x%02x, need a str", what, c)
	}
	if n > *left {
		return "", fmt.Errorf("metadata of more than %d bytes", MaxMetadataBytes)
	}
	*left -= n
	return fd.dec.DecodeString()
}

// shortKey is k as an error quotes it: its start alone, when it is long.
func shortKey(k string) string {
	if len(k) > 32 {
		return k[:32] + "..."
	}
	return k
}
