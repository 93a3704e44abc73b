package transport

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Version is the protocol version this package speaks. Peers must speak the
// same version; see PROTOCOL.md for what changes it.
const Version = 1

// A Kind says what a message is. The numbers are part of the protocol.
type Kind uint8

// The message kinds, following Tractor's dialog.
const (
	KindHello   Kind = 1 // handshake: version and identity (connection-level, id 0)
	KindCall    Kind = 2 // open a stream: call a function with a payload
	KindStarted Kind = 3 // callee to caller: the first value of a streaming call
	KindYield   Kind = 4 // a stream item, in either direction; flow-controlled
	KindStop    Kind = 5 // the sender's direction of the stream is finished
	KindReturn  Kind = 6 // callee to caller: the final value; ends the stream
	KindError   Kind = 7 // callee to caller: the remote error; ends the stream
	KindCancel  Kind = 8 // caller to callee: cancel the call
	KindCredit  Kind = 9 // a flow-control grant of more Yield items
	// KindBatch carries several stream items in one frame, each counted as
	// one Yield; it is sent only to a peer whose Hello offered batches
	// ([Hello.Batch]), and a receiver hands its items out as Yields.
	KindBatch Kind = 10
)

var kindNames = [...]string{
	KindHello: "Hello", KindCall: "Call", KindStarted: "Started", KindYield: "Yield",
	KindStop: "Stop", KindReturn: "Return", KindError: "Error", KindCancel: "Cancel",
	KindCredit: "Credit", KindBatch: "Batch",
}

// String returns the kind's name, or "Kind(n)" for an unknown kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= KindHello && k <= KindBatch }

// fields is the number of envelope fields a message has: its kind's, and
// for a Call with metadata one more.
func (m *Message) fields() int {
	if m.Kind == KindCall && len(m.Metadata) > 0 {
		return 5
	}
	return m.Kind.fields()
}

// fields is the number of envelope fields a kind requires in this version.
func (k Kind) fields() int {
	switch k {
	case KindCall:
		return 4 // kind, id, function, payload
	case KindStop, KindCancel:
		return 2 // kind, id
	}
	return 3 // kind, id, and a payload, hello, error or credit
}

// A Message is one envelope on the wire. Which fields are set depends on
// Kind: Func and Payload for a Call; Payload for Started, Yield and Return;
// Err for Error; Credit for Credit; Hello for Hello. A Batch's Payload is
// one msgpack array holding its items, each one Yield's payload; a stream's
// Recv never returns a Batch, only the Yields it carried.
type Message struct {
	Kind Kind
	// ID is the stream the message belongs to; 0 for Hello.
	ID uint64
	// Func is the function a Call names.
	Func string
	// Payload is one raw msgpack value, not decoded by the transport; it
	// aliases the frame it arrived in. Decode it with [Message.Decode].
	Payload msgpack.RawMessage
	// Credit is the number of Yield items a Credit grants.
	Credit uint32
	// Err is the remote error an Error carries.
	Err *ErrorInfo
	// Hello is the handshake a Hello carries.
	Hello *Hello
	// Metadata is what a Call carries beside its payload ([Metadata]):
	// nil when it carries none.
	Metadata Metadata

	left int // the items a received Batch still holds, in Payload
}

// Decode decodes the message's payload into v, a pointer, with msgpack,
// strictly, as [Unmarshal], but without Unmarshal's scan of the bytes: the
// payload of a message a [Conn] delivers was validated on receipt
// (structure and nesting depth), and so was every value inside it, so
// decoding cannot recurse without bound. A Message built by hand must hold
// such bytes too; decode any other bytes with [Unmarshal].
//
// A payload of more than 4 KiB decoded into a *[]byte (a msgpack bin) or a
// *msgpack.RawMessage is not copied: the value is set to the bytes inside
// the payload, which then share its memory; a frame that large has a
// buffer of its own, never reused, so the value stays valid for as long as
// it is held. Smaller ones, and every other type, are copied.
func (m *Message) Decode(v any) error {
	if len(m.Payload) == 0 {
		return fmt.Errorf("transport: %s message has no payload", m.Kind)
	}
	if decodeInPlace(m.Payload, v) {
		return nil
	}
	if err := unmarshal(m.Payload, v); err != nil {
		return fmt.Errorf("transport: decode %s payload into %T: %w", m.Kind, v, err)
	}
	return nil
}

// ActorID identifies an actor: a name, a unique id and a process id, and
// the host it runs on when it runs on a host of a cluster. To transport it
// is a peer's identity as the peer states it in its [Hello], unchecked.
type ActorID struct {
	Name string
	ID   string
	PID  int
	// Host names the host the actor's process runs on, as its host agent
	// named it to the actor; "" when the actor was not started on a host of
	// a cluster. It crosses as the actor map's optional "host" key.
	Host string
}

// String formats the id as name[id]@pid, followed by " on host h" when
// it has a host.
func (a ActorID) String() string {
	if a.Host != "" {
		return fmt.Sprintf("%s[%s]@%d on host %s", a.Name, a.ID, a.PID, a.Host)
	}
	return fmt.Sprintf("%s[%s]@%d", a.Name, a.ID, a.PID)
}

// Hello is the handshake each side sends first. The transport fills in
// Version, Window, MaxFrame and Initiator; the rest is the caller's identity.
type Hello struct {
	// Version is the protocol version the sender speaks.
	Version uint32
	// Actor identifies the sender.
	Actor ActorID
	// Role is free-form for the layer above (for instance "parent" or
	// "child").
	Role string
	// Initiator is true for the side that dialed (or the parent of a
	// socketpair). The initiator opens odd stream ids, the other side even.
	Initiator bool
	// Window is how many Yield items the sender will buffer per stream
	// before it grants more credit.
	Window uint32
	// MaxFrame is the largest frame body the sender accepts, in bytes.
	MaxFrame uint32
	// Batch is the most stream items the sender accepts in one Batch
	// frame; 0 (a peer that predates batches) means it accepts none, and
	// then it is sent only Yields.
	Batch uint32
}

// ErrorInfo is a remote error as it crosses the wire: the layer above turns
// it into a Go error type of its own.
type ErrorInfo struct {
	// Type is the Go type name of the original error, such as "*fs.PathError".
	Type string
	// Message is the original error's Error() text.
	Message string
	// Stack is the remote stack where the error was raised, if known.
	Stack string
	// Source is the actor where the error was raised.
	Source ActorID
	// Via is the relay path: the actors the error passed through on its way
	// here, nearest the source first.
	Via []ActorID
	// Is lists the names of registered sentinel errors the original matched
	// with errors.Is, so errors.Is can work across the process boundary.
	Is []string
	// Context holds the words each actor of Via added when it relayed the
	// error (a wrapping such as "load config: %w"), Context[i] for Via[i];
	// "" or a missing entry is none.
	Context []string
	// Exit is set when the error is the unexpected end of Source's process.
	Exit *ExitInfo
	// Group holds the members of a group of errors (a nursery's joined
	// failures), each with its own type, stack, source and relay path; the
	// fields above then describe the group as a whole. Members have no
	// group of their own, and there are at most [MaxErrorGroup].
	Group []*ErrorInfo
}

// MaxErrorGroup is the most members an [ErrorInfo] group may have; a
// receiver treats more as a protocol violation, so a sender leaves the
// rest out.
const MaxErrorGroup = 256

// ExitInfo is how an actor's process ended.
type ExitInfo struct {
	// Code is the exit code, or -1 if a signal ended the process.
	Code int
	// Signal is the number of the signal that ended it, or 0.
	Signal int
	// Stderr is the end of what the process wrote to its standard error.
	Stderr string
	// Host is the host the process ran on, for an actor on another host;
	// "" for one of the sender's own host.
	Host string
}
