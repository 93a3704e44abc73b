package actor

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/grove-rt/grove/transport"
)

// maxDebugItems caps the items (arrays' elements and maps' entries) of a
// tree-view answer that this side decodes: a child's subtree, or a debug
// socket's tree. The frame limit bounds an answer's bytes, but not what
// they decode to: an empty map of one byte decodes to a whole TreeInfo, so
// a faulty or hostile child could make its parent allocate some 180 times
// its frame. An actor costs about 13 items (its fields, its calls, its
// children's slots), so this is some 20,000 actors below one child, and at
// most some 50 MB decoded.
const maxDebugItems = 1 << 18

// errTooManyItems is the error of an answer past countItems' limit.
var errTooManyItems = errors.New("a subtree too large for the tree view, or a faulty actor")

// decodeDebug decodes a tree-view answer into v once it has counted its
// items, refusing one of more than maxDebugItems.
func decodeDebug(raw msgpack.RawMessage, v any) error {
	if err := countItems(raw, maxDebugItems); err != nil {
		return err
	}
	return transport.Unmarshal(raw, v)
}

// callDebug makes a tree-view call of r, decoding its answer as
// decodeDebug does.
func callDebug[Out any](ctx context.Context, r *Ref, name string, args debugArgs) (Out, error) {
	var out Out
	raw, err := CallByName[msgpack.RawMessage](ctx, r, name, args)
	if err != nil {
		return out, err
	}
	if err := decodeDebug(raw, &out); err != nil {
		return out, fmt.Errorf("actor: %s result: %w", name, err)
	}
	return out, nil
}

// countItems walks the msgpack value raw, failing once it holds more than
// limit items; it allocates no value. The transport has checked that raw
// nests at most transport.MaxDepth deep, and so does the walk.
func countItems(raw []byte, limit int) error {
	d := msgpack.NewDecoder(bytes.NewReader(raw))
	left := limit
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > transport.MaxDepth {
			return fmt.Errorf("the answer nests more than %d deep", transport.MaxDepth)
		}
		c, err := d.PeekCode()
		if err != nil {
			return err
		}
		var n, per int
		switch {
		case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
			n, err = d.DecodeArrayLen()
			per = 1
		case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
			n, err = d.DecodeMapLen()
			per = 2 // a key and a value
		default:
			return d.Skip()
		}
		if err != nil {
			return err
		}
		if left -= max(n, 0); left < 0 {
			return fmt.Errorf("the answer holds more than %d items (arrays' elements and maps' entries): %w", limit, errTooManyItems)
		}
		for range n * per {
			if err := walk(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(0); err != nil {
		if errors.Is(err, errTooManyItems) {
			return err
		}
		return fmt.Errorf("the answer is not valid msgpack: %w", err)
	}
	return nil
}
