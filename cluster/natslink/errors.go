package natslink

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrSilent matches a [*SilenceError]: the peer sent nothing for the
	// dead interval.
	ErrSilent = errors.New("natslink: the peer went silent")

	// ErrProtocol matches a [*ProtocolError]: the peer broke the bearer's
	// rules.
	ErrProtocol = errors.New("natslink: protocol error")

	// ErrPeerClosed is returned by Write (and the Send methods) after the
	// peer closed the link (its fin arrived): nothing will read the bytes.
	ErrPeerClosed = errors.New("natslink: the peer closed the link")
)

// SilenceError ends a link on which nothing (no data, no ping, no ack)
// arrived for the dead interval: the peer, its host or the network between
// them stopped. It matches [ErrSilent].
type SilenceError struct {
	Silence      time.Duration // since the last message received
	DeadInterval time.Duration // the configured bound
}

func (e *SilenceError) Error() string {
	return fmt.Sprintf("natslink: the peer went silent: nothing received for %v (dead interval %v)",
		e.Silence.Round(time.Millisecond), e.DeadInterval)
}

// Is reports whether target is [ErrSilent].
func (e *SilenceError) Is(target error) bool { return target == ErrSilent }

// ProtocolError ends a link whose peer sent a message that breaks the
// bearer's rules (a short header, an unknown type, an ack of a sequence
// number never sent, data past the window, ...). It matches [ErrProtocol].
type ProtocolError struct {
	Reason string
}

func (e *ProtocolError) Error() string { return "natslink: protocol error: " + e.Reason }

// Is reports whether target is [ErrProtocol].
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

func protocolf(format string, args ...any) error {
	return &ProtocolError{Reason: fmt.Sprintf(format, args...)}
}
