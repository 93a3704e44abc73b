package actor

import (
	"encoding/binary"
	"math"
)

// A sliceCodec encodes and decodes the items of a batch of T, the
// arguments or the results, without reflection: it is resolved once per
// type (a type switch on the predeclared basic types) by [codecOf], the
// way msgpack's own fastest paths skip its reflect.Value walk. Only the
// predeclared types have one: a named type may have its own msgpack or
// encoding (un)marshaller, which the generic path honours.
//
// The wire is msgpack's, byte for byte what msgpack's encoder writes for
// the same value (compact int and uint, the sized integer types in their
// fixed widths, as msgpack does without UseCompactInts); read accepts the encodings msgpack's encoder writes for
// T and reports !ok for anything else (nil, a number that does not fit, a
// string for a []byte...), for the caller to take the generic, strict path
// that gives each such item its exact error.
type sliceCodec[T any] struct {
	write func(b []byte, v T) []byte
	read  func(b []byte, v *T) (n int, ok bool)
	size  int // bytes an item takes at most (a guess for strings and []byte), to size buffers
}

// fast reports whether T has a codec.
func (c sliceCodec[T]) fast() bool { return c.write != nil }

// codecOf returns T's codec, empty when T has none.
func codecOf[T any]() sliceCodec[T] {
	var c any
	switch any(*new(T)).(type) {
	case int:
		c = sliceCodec[int]{size: 9, write: func(b []byte, v int) []byte { return appendInt(b, int64(v)) },
			read: func(b []byte, v *int) (int, bool) { return readSigned(b, v, math.MinInt, math.MaxInt) }}
	case int64:
		c = sliceCodec[int64]{size: 9, write: func(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v)) },
			read: func(b []byte, v *int64) (int, bool) { return readSigned(b, v, math.MinInt64, math.MaxInt64) }}
	case int32:
		c = sliceCodec[int32]{size: 5, write: func(b []byte, v int32) []byte { return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v)) },
			read: func(b []byte, v *int32) (int, bool) { return readSigned(b, v, math.MinInt32, math.MaxInt32) }}
	case int16:
		c = sliceCodec[int16]{size: 3, write: func(b []byte, v int16) []byte { return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v)) },
			read: func(b []byte, v *int16) (int, bool) { return readSigned(b, v, math.MinInt16, math.MaxInt16) }}
	case int8:
		c = sliceCodec[int8]{size: 2, write: func(b []byte, v int8) []byte { return append(b, 0xd0, byte(v)) },
			read: func(b []byte, v *int8) (int, bool) { return readSigned(b, v, math.MinInt8, math.MaxInt8) }}
	case uint:
		c = sliceCodec[uint]{size: 9, write: func(b []byte, v uint) []byte { return appendUint(b, uint64(v)) },
			read: func(b []byte, v *uint) (int, bool) { return readUnsigned(b, v, math.MaxUint) }}
	case uint64:
		c = sliceCodec[uint64]{size: 9, write: func(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(append(b, 0xcf), v) },
			read: func(b []byte, v *uint64) (int, bool) { return readUnsigned(b, v, math.MaxUint64) }}
	case uint32:
		c = sliceCodec[uint32]{size: 5, write: func(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(append(b, 0xce), v) },
			read: func(b []byte, v *uint32) (int, bool) { return readUnsigned(b, v, math.MaxUint32) }}
	case uint16:
		c = sliceCodec[uint16]{size: 3, write: func(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(append(b, 0xcd), v) },
			read: func(b []byte, v *uint16) (int, bool) { return readUnsigned(b, v, math.MaxUint16) }}
	case uint8:
		c = sliceCodec[uint8]{size: 2, write: func(b []byte, v uint8) []byte { return append(b, 0xcc, v) },
			read: func(b []byte, v *uint8) (int, bool) { return readUnsigned(b, v, math.MaxUint8) }}
	case float64:
		c = sliceCodec[float64]{size: 9, write: appendFloat64, read: readFloat64}
	case float32:
		c = sliceCodec[float32]{size: 5, write: appendFloat32, read: readFloat32}
	case bool:
		c = sliceCodec[bool]{size: 1, write: appendBool, read: readBool}
	case string:
		c = sliceCodec[string]{size: 16, write: appendString, read: readString}
	case []byte:
		c = sliceCodec[[]byte]{size: 16, write: appendBytes, read: readBytes}
	default:
		return sliceCodec[T]{}
	}
	return c.(sliceCodec[T])
}

// readAll decodes b, one value and nothing else, into v; ok is false when T
// has no codec or b holds anything else, for the caller to take the
// generic, strict path.
func (c sliceCodec[T]) readAll(b []byte, v *T) bool {
	if c.read == nil || len(b) == 0 {
		return false
	}
	n, ok := c.read(b, v)
	return ok && n == len(b)
}

// readArray decodes the array at the start of b into a slice of up to max
// items, and returns it and the bytes it took; ok is false when b holds
// something else, more than max items, more than its bytes can hold (an
// item takes one at least: a hostile count allocates nothing), or an item
// read refuses (b is then left to the generic path). dst, if large enough,
// holds the items.
func (c sliceCodec[T]) readArray(b []byte, max int, dst []T) (items []T, n int, ok bool) {
	count, pos, ok := arrayHeader(b)
	if !ok || count > max || count > len(b)-pos {
		return nil, 0, false
	}
	if cap(dst) >= count {
		items = dst[:count]
	} else {
		items = make([]T, count)
	}
	for i := range items {
		if pos >= len(b) {
			return nil, 0, false
		}
		m, ok := c.read(b[pos:], &items[i])
		if !ok {
			return nil, 0, false
		}
		pos += m
	}
	return items, pos, true
}

// arrayHeader reads a msgpack array header: the item count and its size.
func arrayHeader(b []byte) (count, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), 1, true
	case c == 0xdc && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), 3, true
	case c == 0xdd && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), 5, true
	}
	return 0, 0, false
}

// appendArrayHeader appends the header of an array of n items, as
// msgpack's encoder writes it.
func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	}
	return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendInt appends v in the smallest form, as msgpack's EncodeInt.
func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return appendUint(b, uint64(v))
	}
	switch {
	case v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return append(b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return append(b, 0xd2, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
}

// appendUint appends v in the smallest form, as msgpack's EncodeUint.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return append(b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

// readInt reads an integer of any msgpack integer form; ok is false for
// anything else. big is set, and i unset, for a uint64 above MaxInt64.
func readInt(b []byte) (i int64, big uint64, n int, ok bool) {
	c := b[0]
	switch {
	case c <= 0x7f:
		return int64(c), 0, 1, true
	case c >= 0xe0:
		return int64(int8(c)), 0, 1, true
	}
	var size int
	switch c {
	case 0xcc, 0xd0:
		size = 1
	case 0xcd, 0xd1:
		size = 2
	case 0xce, 0xd2:
		size = 4
	case 0xcf, 0xd3:
		size = 8
	default:
		return 0, 0, 0, false
	}
	if len(b) < 1+size {
		return 0, 0, 0, false
	}
	p := b[1 : 1+size]
	switch c {
	case 0xcc:
		i = int64(p[0])
	case 0xcd:
		i = int64(binary.BigEndian.Uint16(p))
	case 0xce:
		i = int64(binary.BigEndian.Uint32(p))
	case 0xcf:
		u := binary.BigEndian.Uint64(p)
		if u > math.MaxInt64 {
			return 0, u, 9, true
		}
		i = int64(u)
	case 0xd0:
		i = int64(int8(p[0]))
	case 0xd1:
		i = int64(int16(binary.BigEndian.Uint16(p)))
	case 0xd2:
		i = int64(int32(binary.BigEndian.Uint32(p)))
	case 0xd3:
		i = int64(binary.BigEndian.Uint64(p))
	}
	return i, 0, 1 + size, true
}

// readSigned reads an integer into a signed type of range lo..hi.
func readSigned[T int | int8 | int16 | int32 | int64](b []byte, v *T, lo, hi int64) (int, bool) {
	if c := b[0]; c <= 0x7f {
		*v = T(c)
		return 1, true
	}
	i, big, n, ok := readInt(b)
	if !ok || big != 0 || i < lo || i > hi {
		return 0, false
	}
	*v = T(i)
	return n, true
}

// readUnsigned reads an integer into an unsigned type of range 0..hi.
func readUnsigned[T uint | uint8 | uint16 | uint32 | uint64](b []byte, v *T, hi uint64) (int, bool) {
	if c := b[0]; c <= 0x7f {
		*v = T(c)
		return 1, true
	}
	i, big, n, ok := readInt(b)
	switch {
	case !ok:
		return 0, false
	case big != 0:
		if big > hi {
			return 0, false
		}
		*v = T(big)
	case i < 0 || uint64(i) > hi:
		return 0, false
	default:
		*v = T(i)
	}
	return n, true
}

func appendFloat64(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(v))
}

func appendFloat32(b []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(v))
}

// readFloat64 reads a float64 or a float32 (which msgpack widens).
func readFloat64(b []byte, v *float64) (int, bool) {
	switch {
	case b[0] == 0xcb && len(b) >= 9:
		*v = math.Float64frombits(binary.BigEndian.Uint64(b[1:]))
		return 9, true
	case b[0] == 0xca && len(b) >= 5:
		*v = float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:])))
		return 5, true
	}
	return 0, false
}

func readFloat32(b []byte, v *float32) (int, bool) {
	if b[0] == 0xca && len(b) >= 5 {
		*v = math.Float32frombits(binary.BigEndian.Uint32(b[1:]))
		return 5, true
	}
	return 0, false
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func readBool(b []byte, v *bool) (int, bool) {
	switch b[0] {
	case 0xc2:
		*v = false
	case 0xc3:
		*v = true
	default:
		return 0, false
	}
	return 1, true
}

// appendString appends s as msgpack's encoder does: fixstr, str8, str16,
// str32.
func appendString(b []byte, s string) []byte {
	if n := len(s); n < 32 {
		b = append(b, 0xa0|byte(n))
	} else {
		b = appendLen(b, n, 0xd9, 0xda, 0xdb)
	}
	return append(b, s...)
}

// appendLen appends the header of a str or bin value of n bytes, whose 8-,
// 16- and 32-bit length forms start with c8, c16 and c32.
func appendLen(b []byte, n int, c8, c16, c32 byte) []byte {
	switch {
	case n <= math.MaxUint8:
		return append(b, c8, byte(n))
	case n <= math.MaxUint16:
		return append(b, c16, byte(n>>8), byte(n))
	}
	return append(b, c32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func readString(b []byte, v *string) (int, bool) {
	if c := b[0]; c&0xe0 == 0xa0 { // fixstr
		size := int(c & 0x1f)
		if len(b)-1 < size {
			return 0, false
		}
		*v = string(b[1 : 1+size])
		return 1 + size, true
	}
	body, n, ok := sized(b, 0xd9, 0xda, 0xdb)
	if ok {
		*v = string(body)
	}
	return n, ok
}

// sized reads a str or bin value whose 8-, 16- and 32-bit length forms
// start with c8, c16 and c32: its bytes and its whole size.
func sized(b []byte, c8, c16, c32 byte) (body []byte, n int, ok bool) {
	var size, pos int
	switch c := b[0]; {
	case c == c8 && len(b) >= 2:
		size, pos = int(b[1]), 2
	case c == c16 && len(b) >= 3:
		size, pos = int(binary.BigEndian.Uint16(b[1:])), 3
	case c == c32 && len(b) >= 5:
		size, pos = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, 0, false
	}
	if len(b)-pos < size {
		return nil, 0, false
	}
	return b[pos : pos+size], pos + size, true
}

// appendBytes appends p as msgpack's encoder does: nil for a nil slice,
// else bin8, bin16, bin32.
func appendBytes(b []byte, p []byte) []byte {
	if p == nil {
		return append(b, 0xc0)
	}
	return append(appendLen(b, len(p), 0xc4, 0xc5, 0xc6), p...)
}

// readBytes reads a bin value into a fresh slice (the frame's buffer is
// reused), or nil.
func readBytes(b []byte, v *[]byte) (int, bool) {
	if b[0] == 0xc0 {
		*v = nil
		return 1, true
	}
	body, n, ok := sized(b, 0xc4, 0xc5, 0xc6)
	if ok {
		*v = append([]byte{}, body...)
	}
	return n, ok
}
