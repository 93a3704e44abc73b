package transport

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

var (
	// ErrClosed is matched by every error from a connection that has been
	// closed, by this side or by the peer, or that failed.
	ErrClosed = errors.New("transport: connection closed")

	// ErrFrameTooLarge is matched when a frame's length exceeds the limit:
	// on receipt the connection is closed; on send the message is refused
	// and the connection carries on.
	ErrFrameTooLarge = errors.New("transport: frame too large")

	// ErrProtocol is matched when the peer broke the protocol: a frame that
	// is not valid msgpack, an unknown kind, a message where it is not
	// allowed, or a Yield beyond its credit. The connection is closed.
	ErrProtocol = errors.New("transport: protocol violation")

	// ErrHandshake is matched by every failed handshake: a peer that is
	// not grove, garbage bytes, silence past the handshake timeout, a
	// version mismatch, or a failed authentication.
	ErrHandshake = errors.New("transport: handshake failed")

	// ErrAuth is matched when the peer failed to authenticate: a wrong
	// shared secret, a secret on one end of a Unix socket only, a missing
	// or invalid TLS client certificate, or a Unix socket peer running as
	// another user. It also matches ErrHandshake.
	ErrAuth = errors.New("transport: authentication failed")

	// ErrStreamClosed is returned by a send on a stream whose sending
	// direction is finished (after Stop, Return or Error).
	ErrStreamClosed = errors.New("transport: stream closed")

	// ErrCanceled is returned by the callee's Yield once the caller has
	// canceled the call.
	ErrCanceled = errors.New("transport: call canceled by the caller")

	// ErrTooManyStreams is the remote error a Call gets when the callee
	// already has the maximum number of incoming streams open. The refusal
	// names it as [TooManyStreamsName] in its ErrorInfo's Is, so a layer
	// with a sentinel registry (package actor registers it) matches it
	// with errors.Is in the caller.
	ErrTooManyStreams = errors.New("transport: too many concurrent streams")

	// ErrTooManyControlFrames is matched by the error of a connection that
	// failed because too many answers to the peer's Calls (refusals past
	// the stream limit, a callee's Close without a result) waited to be
	// written: the peer sent what asks for them and did not read them, as a
	// peer flooding Calls past the stream limit does. This side's own
	// Cancels and Credits never count.
	ErrTooManyControlFrames = errors.New("transport: too many control frames queued")
)

// TooManyStreamsName is the name [ErrTooManyStreams] crosses the wire under:
// the Type of the refusal's ErrorInfo, and its one Is entry.
const TooManyStreamsName = "transport.ErrTooManyStreams"

// PeerGone reports whether err (a connection's, a read's or a write's)
// says that the peer went away: it closed its end (io.EOF), or it vanished
// mid-frame or mid-write, as when its process died (io.ErrUnexpectedEOF,
// io.ErrClosedPipe, ECONNRESET, EPIPE). Anything else that ended a
// connection is a fault: a protocol violation, an oversized frame, an I/O
// error of this side. A connection this side closed itself ([Conn.Close])
// ends with an error matching none of these.
func PeerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// A VersionError is a handshake with a peer that speaks another protocol
// version. It matches ErrHandshake.
type VersionError struct {
	Local, Remote uint32
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("transport: protocol version mismatch: this side speaks version %d, the peer speaks version %d",
		e.Local, e.Remote)
}

// Is makes a VersionError match ErrHandshake.
func (e *VersionError) Is(target error) bool { return target == ErrHandshake }

// protocolError reports a peer's protocol violation.
func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// closedError wraps the reason a connection ended so that it matches both
// ErrClosed and the reason.
type closedError struct{ cause error }

func (e *closedError) Error() string {
	if e.cause == nil || e.cause == ErrClosed {
		return ErrClosed.Error()
	}
	return ErrClosed.Error() + ": " + e.cause.Error()
}

func (e *closedError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrClosed}
	}
	return []error{ErrClosed, e.cause}
}

// authFailure is an authentication failure; it matches ErrAuth and
// ErrHandshake.
type authFailure struct{ msg string }

func authError(format string, args ...any) error {
	return &authFailure{msg: fmt.Sprintf(format, args...)}
}

func (e *authFailure) Error() string   { return ErrAuth.Error() + ": " + e.msg }
func (e *authFailure) Unwrap() []error { return []error{ErrAuth, ErrHandshake} }
