package transport

import (
	"context"
	"errors"
	"fmt"

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
// be changed afterwards: the calls read it as they send.
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
// (nil on the caller's, and when it carried none). The map is the
// stream's own: the caller must not change it.
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

// decodeMetadata reads a Call's metadata map: string keys and values,
// each key once, within the bounds; an empty map is no metadata.
func decodeMetadata(d *msgpack.Decoder) (Metadata, error) {
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
	size := 0
	for range n {
		k, err := metadataString(d, "key")
		if err != nil {
			return nil, err
		}
		v, err := metadataString(d, "value of "+k)
		if err != nil {
			return nil, err
		}
		if _, dup := md[k]; dup {
			return nil, fmt.Errorf("metadata key %q repeated", k)
		}
		if size += len(k) + len(v); size > MaxMetadataBytes {
			return nil, fmt.Errorf("metadata of more than %d bytes", MaxMetadataBytes)
		}
		md[k] = v
	}
	return md, nil
}

// metadataString reads a msgpack str, refusing any other type (msgpack's
// DecodeString would take a nil or a bin too).
func metadataString(d *msgpack.Decoder, what string) (string, error) {
	c, err := d.PeekCode()
	if err != nil {
		return "", fmt.Errorf("metadata %s: %w", what, err)
	}
	if !msgpcode.IsString(c) {
		return "", fmt.Errorf("metadata %s: msgpack code 0x%02x, need a str", what, c)
	}
	return d.DecodeString()
}
