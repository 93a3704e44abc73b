package transport

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// minSecret is the shortest shared secret TCP accepts.
const minSecret = 16

// Labels that bind each proof to its direction, so that a proof can never
// be reflected back to the side that made it.
const (
	labelDialer   = "grove/1 auth: dialer"
	labelListener = "grove/1 auth: listener"
)

// ListenTCP listens on a TCP address. Every connection must authenticate:
// both ends prove they know the shared secret ([WithSecret], required) with
// an HMAC-SHA256 challenge-response before any message is read; with
// [WithTLS] the connection is mutual TLS first. Failures are reported to the
// reject hook and the listener keeps serving everyone else.
func ListenTCP(addr string, opts ...Option) (*Listener, error) {
	cfg := newConfig(opts)
	if len(cfg.secret) < minSecret {
		return nil, fmt.Errorf("transport: TCP needs a shared secret of at least %d bytes (WithSecret)", minSecret)
	}
	var tlsCfg *tls.Config
	if cfg.tls != nil {
		if cfg.tls.ClientCAs == nil {
			return nil, errors.New("transport: mutual TLS needs ClientCAs in the listener's tls.Config")
		}
		tlsCfg = cfg.tls.Clone()
		tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	return newListener(ln, cfg, func(ctx context.Context, nc net.Conn, cfg *config) (*Conn, error) {
		return upgradeTCP(ctx, nc, cfg, tlsCfg, Responder)
	}), nil
}

// DialTCP connects to a TCP listener, authenticates with the shared secret
// (and TLS when [WithTLS] is given), and performs the handshake, honouring
// ctx.
func DialTCP(ctx context.Context, addr string, opts ...Option) (*Conn, error) {
	cfg := newConfig(opts)
	if len(cfg.secret) < minSecret {
		return nil, fmt.Errorf("transport: TCP needs a shared secret of at least %d bytes (WithSecret)", minSecret)
	}
	tlsCfg := cfg.tls
	if tlsCfg != nil && tlsCfg.ServerName == "" {
		// Verify the server against the host dialed, as tls.Dial does.
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
		}
		tlsCfg = tlsCfg.Clone()
		tlsCfg.ServerName = host
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	return upgradeTCP(ctx, nc, &cfg, tlsCfg, Initiator)
}

func upgradeTCP(ctx context.Context, nc net.Conn, cfg *config, tlsCfg *tls.Config, side Side) (*Conn, error) {
	if tlsCfg != nil {
		// One deadline covers TLS and the rest of the handshake; a
		// Listener's auth deadline, if sooner, covers TLS too.
		hctx := ctx
		authBy := cfg.pending.authDeadline()
		if cfg.handshakeTimeout > 0 {
			deadline := time.Now().Add(cfg.handshakeTimeout)
			var cancel context.CancelFunc
			hctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
			rest := *cfg
			rest.handshakeTimeout = max(time.Until(deadline), time.Millisecond)
			cfg = &rest
		}
		if !authBy.IsZero() {
			var cancel context.CancelFunc
			hctx, cancel = context.WithDeadline(hctx, authBy)
			defer cancel()
		}
		var tc *tls.Conn
		if side == Initiator {
			tc = tls.Client(nc, tlsCfg)
		} else {
			tc = tls.Server(nc, tlsCfg)
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			switch {
			case ctx.Err() != nil: // evicted, or the listener closed
				return nil, fmt.Errorf("%w: %w", ErrHandshake, context.Cause(ctx))
			case errors.Is(hctx.Err(), context.DeadlineExceeded):
				return nil, fmt.Errorf("%w: TLS: no handshake from the peer in time (the handshake timeout, or a listener's WithAuthTimeout): %w",
					ErrHandshake, os.ErrDeadlineExceeded)
			}
			return nil, authError("TLS: %v", err)
		}
		nc = tc
	}
	return establish(ctx, nc, side, cfg, func(rw net.Conn) error {
		return authenticate(rw, cfg.secret, side)
	})
}

// authenticate runs the mutual HMAC challenge-response: each side sends a
// fresh 32-byte nonce; the dialer proves itself first, and the listener
// answers only a dialer that did. Proofs are compared in constant time.
func authenticate(rw io.ReadWriter, secret []byte, side Side) error {
	var mine, theirs [32]byte
	if _, err := rand.Read(mine[:]); err != nil {
		return err
	}
	if _, err := rw.Write(mine[:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(rw, theirs[:]); err != nil {
		return fmt.Errorf("reading the peer's challenge: %w", err)
	}
	myLabel, peerLabel := labelDialer, labelListener
	if side == Responder {
		myLabel, peerLabel = labelListener, labelDialer
	}
	// A proof covers the verifier's nonce first, then the prover's.
	proof := mac(secret, myLabel, theirs[:], mine[:])
	want := mac(secret, peerLabel, mine[:], theirs[:])
	got := make([]byte, sha256.Size)
	if side == Initiator {
		_, err := rw.Write(proof) // fails if a listener without a secret has hung up
		if err == nil {
			_, err = io.ReadFull(rw, got)
		}
		switch {
		case err == nil && hmac.Equal(got, want):
			return nil
		case withoutSecret(theirs[:], err):
			return authError("the listener has no secret: it sent its Hello where its challenge belongs; give both ends the same WithSecret")
		case err != nil:
			return authError("the listener closed the connection instead of proving itself (wrong secret?): %v", err)
		}
		return authError("the listener's proof is wrong: it does not know the shared secret")
	}
	_, err := io.ReadFull(rw, got)
	switch {
	case err == nil && hmac.Equal(got, want):
		_, err = rw.Write(proof)
		return err
	case withoutSecret(theirs[:], err):
		return authError("the dialer has no secret: it sent its Hello where its challenge belongs; give both ends the same WithSecret")
	case err != nil:
		// Silence or a hang-up, not a wrong proof.
		return fmt.Errorf("reading the dialer's proof: %w", err)
	}
	return authError("the dialer's proof is wrong: it does not know the shared secret")
}

// withoutSecret reports whether a proof that failed (its read with err)
// came from a peer without a secret, as a Unix socket's may be: one that
// sent its Hello where its nonce belongs, all at once, so that reading on
// did not time out.
func withoutSecret(nonce []byte, err error) bool {
	return !errors.Is(err, os.ErrDeadlineExceeded) && helloStart(nonce)
}

// helloStart reports whether b, the 32 bytes read as the peer's nonce,
// begin as a Hello frame does: a length within the Hello's limit, then
// [1, 0, ...]. Only a failed authentication asks, so a nonce that happens
// to look like this costs nothing but the wording of its error.
func helloStart(b []byte) bool {
	n := binary.BigEndian.Uint32(b)
	return n >= 3 && n <= maxHelloFrame && b[4] == 0x93 && b[5] == byte(KindHello) && b[6] == 0
}

func mac(secret []byte, label string, verifierNonce, proverNonce []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(label))
	h.Write(verifierNonce)
	h.Write(proverNonce)
	return h.Sum(nil)
}
