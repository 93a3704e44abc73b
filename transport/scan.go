package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxDepth is how deeply non-empty msgpack containers may nest in a frame,
// the envelope included (an empty array or map is a leaf). Deeper frames are
// rejected before decoding, so no decoder ever recurses on hostile input
// without bound.
const MaxDepth = 256

var errTruncated = errors.New("value runs past the end of the frame")

// scanValue returns the length of the msgpack value at the start of b,
// checking that it lies wholly within b and nests at most maxDepth
// containers deep. It walks iteratively and allocates nothing for depths up
// to 32. The msgpack library has no depth limit of its own (its Skip
// recurses), which is why this walk exists.
func scanValue(b []byte, maxDepth int) (int, error) {
	var small [32]int
	stack := small[:0] // values still to read at each enclosing level
	pending := 1       // values still to read at the current level
	pos := 0
	for {
		for pending == 0 {
			if len(stack) == 0 {
				return pos, nil
			}
			pending, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
		pending--
		if pos >= len(b) {
			return 0, errTruncated
		}
		c := b[pos]
		pos++
		var skip, items int // bytes to skip, container items to read
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		case c <= 0x8f: // fixmap
			items = int(c&0x0f) * 2
		case c <= 0x9f: // fixarray
			items = int(c & 0x0f)
		case c <= 0xbf: // fixstr
			skip = int(c & 0x1f)
		default:
			var ok bool
			skip, items, ok = scanCode(c, b[pos:])
			if !ok {
				if c == 0xc1 {
					return 0, fmt.Errorf("invalid msgpack code 0x%02x", c)
				}
				return 0, errTruncated
			}
		}
		if skip > len(b)-pos {
			return 0, errTruncated
		}
		pos += skip
		if items > 0 {
			if items > len(b)-pos { // every item takes at least one byte
				return 0, errTruncated
			}
			if len(stack)+1 > maxDepth {
				return 0, fmt.Errorf("msgpack nested deeper than %d levels", maxDepth)
			}
			stack = append(stack, pending)
			pending = items
		}
	}
}

// scanCode decodes the header of the msgpack codes 0xc0..0xdf: how many
// bytes follow (length fields included) and how many container items. ok is
// false for the unused code 0xc1 or a header cut short by the end of b.
func scanCode(c byte, b []byte) (skip, items int, ok bool) {
	// length reads an n-byte big-endian length field.
	length := func(n int) (int, bool) {
		if len(b) < n {
			return 0, false
		}
		switch n {
		case 1:
			return int(b[0]), true
		case 2:
			return int(binary.BigEndian.Uint16(b)), true
		}
		return be32(b), true
	}
	var l int
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return 0, 0, true
	case 0xcc, 0xd0: // uint8, int8
		return 1, 0, true
	case 0xcd, 0xd1: // uint16, int16
		return 2, 0, true
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return 4, 0, true
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return 8, 0, true
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type + data
		return 1 + 1<<(c-0xd4), 0, true
	case 0xc4, 0xd9: // bin8, str8
		l, ok = length(1)
		return 1 + l, 0, ok
	case 0xc5, 0xda: // bin16, str16
		l, ok = length(2)
		return 2 + l, 0, ok
	case 0xc6, 0xdb: // bin32, str32
		l, ok = length(4)
		return 4 + l, 0, ok
	case 0xc7: // ext8: length, type, data
		l, ok = length(1)
		return 2 + l, 0, ok
	case 0xc8: // ext16
		l, ok = length(2)
		return 3 + l, 0, ok
	case 0xc9: // ext32
		l, ok = length(4)
		return 5 + l, 0, ok
	case 0xdc: // array16
		l, ok = length(2)
		return 2, l, ok
	case 0xdd: // array32
		l, ok = length(4)
		return 4, l, ok
	case 0xde: // map16
		l, ok = length(2)
		return 2, 2 * l, ok
	case 0xdf: // map32
		l, ok = length(4)
		return 4, 2 * l, ok
	}
	return 0, 0, false // 0xc1: never used
}
