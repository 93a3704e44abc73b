package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Preface is the 8 bytes each side writes first on every connection (after
// TLS, before anything else). A peer that sends anything else is not grove.
const Preface = "\x89GROVE\r\n"

// maxHelloFrame bounds the Hello frame, which is read before the peer's
// limits are known.
const maxHelloFrame = 64 << 10

// handshake exchanges prefaces, runs auth (when not nil), then exchanges
// Hellos and checks the peer's. It is bounded by ctx and the handshake
// timeout and, for a Listener's connection, everything up to the peer's
// proof (its preface when auth is nil) by the auth deadline; on success the
// connection's deadlines are cleared.
func handshake(ctx context.Context, nc net.Conn, br *bufio.Reader, cfg *config, local *Hello, auth func(net.Conn) error) (*Hello, error) {
	var deadline time.Time
	if cfg.handshakeTimeout > 0 {
		deadline = time.Now().Add(cfg.handshakeTimeout)
	}
	_ = nc.SetDeadline(deadline)
	authBy := cfg.pending.authDeadline()
	unproven := !authBy.IsZero() && (deadline.IsZero() || authBy.Before(deadline))
	if unproven {
		_ = nc.SetReadDeadline(authBy)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	proved := func() {
		cfg.pending.proved()
		if unproven {
			unproven = false
			_ = nc.SetReadDeadline(deadline)
			if ctx.Err() != nil { // ctx fired meanwhile: keep it interrupted
				_ = nc.SetDeadline(time.Unix(1, 0))
			}
		}
	}
	peer, err := exchange(nc, br, local, auth, proved)
	if !stop() || ctx.Err() != nil {
		// ctx fired: report it rather than the deadline error it caused.
		return nil, fmt.Errorf("%w: %w", ErrHandshake, context.Cause(ctx))
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if unproven {
				what := "authenticate"
				if auth == nil {
					what = "send its preface"
				}
				return nil, fmt.Errorf("%w: the peer did not %s within %v of connecting (the listener's WithAuthTimeout): %w",
					ErrHandshake, what, cfg.authTimeout, err)
			}
			return nil, fmt.Errorf("%w: no handshake from the peer within %v: %w", ErrHandshake, cfg.handshakeTimeout, err)
		}
		if errors.Is(err, ErrHandshake) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return peer, nil
}

// exchange runs the handshake's steps; proved is called once the peer has
// authenticated (after auth, or after its preface when auth is nil).
func exchange(nc net.Conn, br *bufio.Reader, local *Hello, auth func(net.Conn) error, proved func()) (peer *Hello, err error) {
	hello, err := AppendFrame(nil, &Message{Kind: KindHello, Hello: local})
	if err != nil {
		return nil, err
	}
	if len(hello)-frameHeader > maxHelloFrame {
		return nil, fmt.Errorf("this side's Hello is %d bytes, over the %d-byte limit (a very long name or role?)", len(hello)-frameHeader, maxHelloFrame)
	}
	out := []byte(Preface)
	if auth == nil {
		out = append(out, hello...) // one write for both
	}
	// Write while reading: on a synchronous pipe (net.Pipe, the goroutine
	// backend's link) a write waits for the peer's read, and both peers
	// write first. The handshake deadline bounds the write too.
	written := make(chan error, 1)
	go func() {
		_, err := nc.Write(out)
		written <- err
	}()
	var writeErr error
	writeDone := false
	waitWrite := func() error {
		if !writeDone {
			writeErr, writeDone = <-written, true
		}
		return writeErr
	}
	defer func() {
		if err != nil {
			_ = nc.SetWriteDeadline(time.Unix(1, 0)) // failed: stop the write
		}
		if werr := waitWrite(); err == nil && werr != nil {
			peer, err = nil, werr
		}
	}()
	var got [len(Preface)]byte
	if _, err := io.ReadFull(br, got[:]); err != nil {
		return nil, fmt.Errorf("reading the preface: %w", err)
	}
	if string(got[:]) != Preface {
		return nil, fmt.Errorf("%w: the peer is not grove (preface %q)", ErrHandshake, got[:])
	}
	if auth == nil {
		proved()
	} else {
		if err := waitWrite(); err != nil { // the preface goes before the proofs
			return nil, err
		}
		if err := auth(&bufferedConn{Conn: nc, r: br}); err != nil {
			return nil, err
		}
		proved()
		if _, err := nc.Write(hello); err != nil {
			return nil, err
		}
	}
	body, err := ReadFrame(br, maxHelloFrame)
	if err != nil {
		return nil, &noHelloError{fmt.Errorf("reading the Hello: %w", err)}
	}
	m, err := DecodeMessage(body)
	if err != nil {
		return nil, &noHelloError{err}
	}
	if m.Kind != KindHello {
		return nil, &noHelloError{fmt.Errorf("%w: expected Hello, got %s", ErrHandshake, m.Kind)}
	}
	return m.Hello, checkHello(local, m.Hello)
}

// A noHelloError is a peer's preface followed by something other than a
// Hello: over a Unix socket, the sign of a peer that authenticates with a
// secret this side was not given (see establishUnix).
type noHelloError struct{ err error }

func (e *noHelloError) Error() string { return e.err.Error() }
func (e *noHelloError) Unwrap() error { return e.err }

// checkHello checks the peer's Hello against this side's.
func checkHello(local, peer *Hello) error {
	switch {
	case peer.Version != local.Version:
		return &VersionError{Local: local.Version, Remote: peer.Version}
	case peer.Initiator == local.Initiator:
		return fmt.Errorf("%w: both sides claim the same side (initiator=%t)", ErrHandshake, local.Initiator)
	case peer.Window == 0 || peer.Window > maxWindow:
		return fmt.Errorf("%w: the peer announced a window of %d items, outside 1..%d", ErrHandshake, peer.Window, maxWindow)
	case peer.MaxFrame < minMaxFrame:
		return fmt.Errorf("%w: the peer announced a frame limit of %d bytes, below the minimum %d",
			ErrHandshake, peer.MaxFrame, minMaxFrame)
	}
	return nil
}

// bufferedConn reads through the handshake's buffered reader, so that no
// byte the peer sent early is lost.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
