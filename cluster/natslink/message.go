package natslink

import (
	"bytes"
	"encoding/binary"

	"github.com/vmihailenco/msgpack/v5"
)

// Message types: the first byte of every NATS message of a link.
const (
	typeData byte = 0
	typePing byte = 1
	typeAck  byte = 2
	typeNack byte = 3
	typeLog  byte = 4
	typeExit byte = 5
	typeFin  byte = 6
)

// headerLen is the length of a message's header: type (1) and seq (8).
const headerLen = 9

// MaxLogLines is the most lines one [Log] message may carry: SendLog
// refuses more, and a received Log declaring more is a protocol error
// (checked before anything is allocated for them).
const MaxLogLines = 4096

// Log is a batch of output lines of a remote actor, sent by its host's
// agent to the caller ([Link.SendLog], [Config.OnLog]).
type Log struct {
	FD    int      `msgpack:"fd"`    // 1 for stdout, 2 for stderr
	Lines []string `msgpack:"lines"` // without their newlines
}

// Exit is a remote actor's exit status, sent by its host's agent to the
// caller once the process has been reaped ([Link.SendExit], [Config.OnExit]).
type Exit struct {
	Code   int    `msgpack:"code"`   // the exit code, -1 if killed by a signal
	Signal int    `msgpack:"signal"` // the signal that killed it, 0 if none
	Stderr string `msgpack:"stderr"` // the last bytes of its stderr (the agent keeps 4 KiB)
}

// encode returns a message: header then body.
func encode(typ byte, seq uint64, body []byte) []byte {
	m := make([]byte, headerLen+len(body))
	m[0] = typ
	binary.BigEndian.PutUint64(m[1:headerLen], seq)
	copy(m[headerLen:], body)
	return m
}

// encodeU64 returns a control message whose body is one big-endian uint64.
func encodeU64(typ byte, seq, v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return encode(typ, seq, b[:])
}

func decodeU64(typ byte, body []byte) (uint64, error) {
	if len(body) != 8 {
		return 0, protocolf("a message of type %d has a %d-byte body, want 8", typ, len(body))
	}
	return binary.BigEndian.Uint64(body), nil
}

func marshalSide(v any) ([]byte, error) { return msgpack.Marshal(v) }

func unmarshalSide(typ byte, body []byte, v any) error {
	if err := msgpack.Unmarshal(body, v); err != nil {
		return protocolf("a message of type %d does not decode: %v", typ, err)
	}
	return nil
}

// decodeLog decodes a Log body, checking what it declares before
// allocating: at most MaxLogLines lines, none longer than the body.
func decodeLog(body []byte) (Log, error) {
	var v Log
	bad := func(format string, a ...any) (Log, error) {
		return Log{}, protocolf("a log message "+format, a...)
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := d.DecodeMapLen()
	if err != nil {
		return bad("does not decode: %v", err)
	}
	for range max(n, 0) {
		key, err := d.DecodeString()
		if err != nil {
			return bad("does not decode: %v", err)
		}
		switch key {
		case "fd":
			if v.FD, err = d.DecodeInt(); err != nil {
				return bad("does not decode: %v", err)
			}
		case "lines":
			k, err := d.DecodeArrayLen()
			if err != nil {
				return bad("does not decode: %v", err)
			}
			if k > MaxLogLines || k > len(body) {
				return bad("declares %d lines: at most %d", k, MaxLogLines)
			}
			v.Lines = make([]string, 0, max(k, 0))
			for range k {
				line, err := d.DecodeString()
				if err != nil {
					return bad("does not decode: %v", err)
				}
				v.Lines = append(v.Lines, line)
			}
		default:
			if err := d.Skip(); err != nil {
				return bad("does not decode: %v", err)
			}
		}
	}
	return v, nil
}
