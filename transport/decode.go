package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// DecodeMessage decodes one frame body into a Message. The body is first
// validated as a single msgpack value nested at most [MaxDepth] deep; any
// fault gives an error matching [ErrProtocol]. The returned payload aliases
// body, and so does a value [Message.Decode] sets in place from a payload
// of more than 4 KiB: body must not be written while either is in use.
func DecodeMessage(body []byte) (*Message, error) {
	var fd frameDecoder
	return fd.decode(body)
}

// frameDecoder decodes frame bodies, reusing its reader and decoder.
type frameDecoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

func (fd *frameDecoder) decode(body []byte) (*Message, error) {
	n, err := scanValue(body, MaxDepth)
	if err != nil {
		return nil, protocolError("invalid frame: %v", err)
	}
	if n != len(body) {
		return nil, protocolError("invalid frame: %d bytes after the envelope", len(body)-n)
	}
	fd.r.Reset(body)
	if fd.dec == nil {
		fd.dec = msgpack.NewDecoder(&fd.r)
	} else {
		fd.dec.Reset(&fd.r)
	}
	m, err := fd.envelope(body)
	if err != nil {
		return nil, protocolError("invalid %s envelope: %v", kindOrUnknown(m), err)
	}
	return m, nil
}

func kindOrUnknown(m *Message) string {
	if m == nil {
		return "frame"
	}
	return m.Kind.String()
}

func (fd *frameDecoder) envelope(body []byte) (*Message, error) {
	d := fd.dec
	fields, err := d.DecodeArrayLen()
	if err != nil {
		return nil, fmt.Errorf("not an array: %w", err)
	}
	if fields < 2 {
		return nil, fmt.Errorf("%d fields, need at least kind and id", fields)
	}
	kind, err := d.DecodeUint64()
	if err != nil {
		return nil, fmt.Errorf("kind: %w", err)
	}
	if kind > math.MaxUint8 || !Kind(kind).valid() {
		return nil, fmt.Errorf("unknown kind %d", kind)
	}
	m := &Message{Kind: Kind(kind)}
	if m.ID, err = d.DecodeUint64(); err != nil {
		return m, fmt.Errorf("id: %w", err)
	}
	need := m.Kind.fields()
	if fields < need {
		return m, fmt.Errorf("%d fields, need %d", fields, need)
	}
	switch m.Kind {
	case KindHello:
		m.Hello, err = decodeHello(d)
	case KindCall:
		if m.Func, err = d.DecodeString(); err == nil {
			m.Payload, err = fd.payload(body)
		}
		if err == nil && fields > need {
			m.Metadata, err = decodeMetadata(d)
			need++
		}
	case KindStarted, KindYield, KindReturn:
		m.Payload, err = fd.payload(body)
	case KindBatch:
		m.Payload, err = fd.batch(body)
	case KindError:
		m.Err, err = decodeErrorInfo(d, false)
	case KindCredit:
		var c uint64
		if c, err = d.DecodeUint64(); err == nil {
			if c == 0 || c > math.MaxUint32 {
				err = fmt.Errorf("credit %d out of range", c)
			}
			m.Credit = uint32(c)
		}
	}
	if err != nil {
		return m, err
	}
	// Fields a later minor revision may add are ignored.
	for range fields - need {
		if err := d.Skip(); err != nil {
			return m, err
		}
	}
	return m, nil
}

// payload slices the next value out of body without decoding it.
func (fd *frameDecoder) payload(body []byte) (msgpack.RawMessage, error) {
	off := len(body) - fd.r.Len()
	n, err := scanValue(body[off:], MaxDepth)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if _, err := fd.r.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, err
	}
	return msgpack.RawMessage(body[off : off+n : off+n]), nil
}

// decodeInPlace decodes payload, one validated msgpack value, into v
// without a copy when it can and reports whether it did: a payload of more
// than slabMax bytes (so its frame had a buffer of its own, see slabMax)
// into a *[]byte when it is a bin, or into a *msgpack.RawMessage. The
// value aliases payload, capped at its end so that an append cannot write
// over what follows. msgpack.Unmarshal would copy the bytes out, as it must
// for a buffer it does not know the fate of.
func decodeInPlace(payload []byte, v any) bool {
	if len(payload) <= slabMax {
		return false
	}
	switch p := v.(type) {
	case *[]byte:
		if p == nil {
			return false // msgpack says what is wrong
		}
		var n, hdr int
		switch payload[0] {
		case msgpcode.Bin8:
			n, hdr = int(payload[1]), 2
		case msgpcode.Bin16:
			n, hdr = int(binary.BigEndian.Uint16(payload[1:])), 3
		case msgpcode.Bin32:
			n, hdr = be32(payload[1:]), 5
		default:
			return false
		}
		if hdr+n != len(payload) {
			return false // not one bin: leave it to msgpack to say so
		}
		*p = payload[hdr:len(payload):len(payload)]
		return true
	case *msgpack.RawMessage:
		if p == nil {
			return false
		}
		*p = msgpack.RawMessage(payload[:len(payload):len(payload)])
		return true
	}
	return false
}

// decodeMap reads a map with string keys, calling field for each key; field
// returns false for a key it does not know, which is skipped.
func decodeMap(d *msgpack.Decoder, field func(key string) (bool, error)) error {
	n, err := d.DecodeMapLen()
	if err != nil {
		return err
	}
	for range n {
		key, err := d.DecodeString()
		if err != nil {
			return fmt.Errorf("map key: %w", err)
		}
		known, err := field(key)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if !known {
			if err := d.Skip(); err != nil {
				return err
			}
		}
	}
	return nil
}

func decodeUint32(d *msgpack.Decoder) (uint32, error) {
	v, err := d.DecodeUint64()
	if err == nil && v > math.MaxUint32 {
		err = fmt.Errorf("%d out of range", v)
	}
	return uint32(v), err
}

func decodeHello(d *msgpack.Decoder) (*Hello, error) {
	h := &Hello{}
	err := decodeMap(d, func(key string) (bool, error) {
		var err error
		switch key {
		case "version":
			h.Version, err = decodeUint32(d)
		case "name":
			h.Actor.Name, err = d.DecodeString()
		case "id":
			h.Actor.ID, err = d.DecodeString()
		case "pid":
			var pid int64
			pid, err = d.DecodeInt64()
			h.Actor.PID = int(pid)
		case "host":
			h.Actor.Host, err = d.DecodeString()
		case "role":
			h.Role, err = d.DecodeString()
		case "initiator":
			h.Initiator, err = d.DecodeBool()
		case "window":
			h.Window, err = decodeUint32(d)
		case "max_frame":
			h.MaxFrame, err = decodeUint32(d)
		case "batch":
			h.Batch, err = decodeUint32(d)
		default:
			return false, nil
		}
		return true, err
	})
	return h, err
}

func decodeActorID(d *msgpack.Decoder) (ActorID, error) {
	var a ActorID
	err := decodeMap(d, func(key string) (bool, error) {
		var err error
		switch key {
		case "name":
			a.Name, err = d.DecodeString()
		case "id":
			a.ID, err = d.DecodeString()
		case "pid":
			var pid int64
			pid, err = d.DecodeInt64()
			a.PID = int(pid)
		case "host":
			a.Host, err = d.DecodeString()
		default:
			return false, nil
		}
		return true, err
	})
	return a, err
}

// decodeErrorInfo reads an Error map; a member of a group may not have a
// group of its own, and a group at most MaxErrorGroup members, so that the
// recursion and the members a peer can make us hold are bounded.
func decodeErrorInfo(d *msgpack.Decoder, member bool) (*ErrorInfo, error) {
	ei := &ErrorInfo{}
	err := decodeMap(d, func(key string) (bool, error) {
		var err error
		switch key {
		case "type":
			ei.Type, err = d.DecodeString()
		case "message":
			ei.Message, err = d.DecodeString()
		case "stack":
			ei.Stack, err = d.DecodeString()
		case "source":
			ei.Source, err = decodeActorID(d)
		case "via":
			err = decodeList(d, func() error {
				a, err := decodeActorID(d)
				ei.Via = append(ei.Via, a)
				return err
			})
		case "is":
			err = decodeList(d, func() error {
				s, err := d.DecodeString()
				ei.Is = append(ei.Is, s)
				return err
			})
		case "context":
			err = decodeList(d, func() error {
				s, err := d.DecodeString()
				ei.Context = append(ei.Context, s)
				return err
			})
		case "exit":
			ei.Exit, err = decodeExitInfo(d)
		case "group":
			if member {
				return true, errors.New("a group member has a group of its own")
			}
			err = decodeList(d, func() error {
				if len(ei.Group) == MaxErrorGroup {
					return fmt.Errorf("more than %d members", MaxErrorGroup)
				}
				m, err := decodeErrorInfo(d, true)
				ei.Group = append(ei.Group, m)
				return err
			})
		default:
			return false, nil
		}
		return true, err
	})
	return ei, err
}

// decodeExitInfo reads an exit map; nil stands for none.
func decodeExitInfo(d *msgpack.Decoder) (*ExitInfo, error) {
	if c, err := d.PeekCode(); err == nil && c == msgpcode.Nil {
		return nil, d.DecodeNil()
	}
	x := &ExitInfo{}
	err := decodeMap(d, func(key string) (bool, error) {
		var err error
		var v int64
		switch key {
		case "code":
			v, err = d.DecodeInt64()
			x.Code = int(v)
		case "signal":
			v, err = d.DecodeInt64()
			x.Signal = int(v)
		case "stderr":
			x.Stderr, err = d.DecodeString()
		case "host":
			x.Host, err = d.DecodeString()
		default:
			return false, nil
		}
		return true, err
	})
	return x, err
}

// decodeList reads an array (nil counts as empty), calling item per element.
func decodeList(d *msgpack.Decoder, item func() error) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	for range n { // n is -1 for nil
		if err := item(); err != nil {
			return err
		}
	}
	return nil
}
