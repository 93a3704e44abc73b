package natslink

import (
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
