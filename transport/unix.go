//go:build unix

package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// ListenUnix listens on a Unix domain socket at path. The socket's
// directory must be private: it is created with mode 0700 if missing, and
// an existing one must be a directory owned by this user that no one else
// may enter. A stale socket file left by a dead listener is removed. On
// Linux a path that begins with '@' is in the abstract namespace instead:
// no file, nothing to remove after a crash, and no directory to guard it
// (any process in the network namespace may connect), so a second listener
// on a live name fails. On Linux each peer's uid is checked with
// SO_PEERCRED and must be ours. With [WithSecret] (at least 16 bytes)
// every connection must also prove that it knows the secret, as over TCP,
// before any message is read: the guard that keeps apart the programs one
// user runs. Both ends must agree: a dialer with another secret, or none,
// fails the handshake with [ErrAuth], and so does a dialer with a secret
// at a listener without one; the listener reports it to its reject hook.
func ListenUnix(path string, opts ...Option) (*Listener, error) {
	cfg := newConfig(opts)
	if err := checkUnixSecret(cfg); err != nil {
		return nil, err
	}
	if !abstract(path) {
		if err := privateDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
		if err := removeStale(path); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		if abstract(path) && errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("transport: a listener is already serving on the abstract socket %s "+
				"(an abstract name is never stale: close that listener, or choose another name): %w", path, err)
		}
		return nil, fmt.Errorf("transport: listen on %s: %w", path, err)
	}
	return newListener(ln, cfg, func(ctx context.Context, nc net.Conn, cfg *config) (*Conn, error) {
		if err := checkPeer(nc); err != nil {
			return nil, err
		}
		return establishUnix(ctx, nc, Responder, cfg)
	}), nil
}

// DialUnix connects to a Unix domain socket listener at path and performs
// the handshake, honouring ctx. On Linux the listener's uid must be ours.
// A listener with a secret needs the same [WithSecret] here, and one
// without needs none: otherwise the handshake fails with [ErrAuth].
func DialUnix(ctx context.Context, path string, opts ...Option) (*Conn, error) {
	cfg := newConfig(opts)
	if err := checkUnixSecret(cfg); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", path, err)
	}
	if err := checkPeer(nc); err != nil {
		nc.Close()
		return nil, err
	}
	return establishUnix(ctx, nc, Initiator, &cfg)
}

// abstract reports whether path names a socket in Linux's abstract
// namespace; elsewhere a leading '@' is part of a file's name.
func abstract(path string) bool { return runtime.GOOS == "linux" && len(path) > 0 && path[0] == '@' }

// checkUnixSecret refuses a secret too short to guard anything; no secret
// at all leaves SO_PEERCRED and the directory as the guards.
func checkUnixSecret(cfg config) error {
	if cfg.secret != nil && len(cfg.secret) < minSecret {
		return fmt.Errorf("transport: a Unix socket's secret must be at least %d bytes (WithSecret)", minSecret)
	}
	return nil
}

// establishUnix performs the handshake of a Unix socket's connection,
// proving the secret if this side has one. A peer that proves a secret
// this side lacks sends its nonce where its Hello belongs, which this side
// sees as no Hello after the preface: an authentication failure, then,
// that names the fix. (The side with the secret tells a peer without one
// by the Hello it gets for a nonce, in authenticate.)
func establishUnix(ctx context.Context, nc net.Conn, side Side, cfg *config) (*Conn, error) {
	if cfg.secret != nil {
		return establish(ctx, nc, side, cfg, func(rw net.Conn) error { return authenticate(rw, cfg.secret, side) })
	}
	c, err := establish(ctx, nc, side, cfg, nil)
	var nh *noHelloError
	if errors.As(err, &nh) && sentInstead(nh.err) {
		if side == Initiator {
			return nil, authError("no Hello after the listener's preface (%v): the listener must require a shared secret, "+
				"which this dialer lacks; dial with the same WithSecret", nh.err)
		}
		return nil, authError("no Hello after the dialer's preface (%v): the dialer must be proving a shared secret, "+
			"which this listener lacks; listen with the same WithSecret", nh.err)
	}
	return c, err
}

// sentInstead reports whether the failure to read a Hello means the peer
// sent something else in its place (a partial or foreign frame), rather
// than that it went away before sending anything (a clean EOF at a frame's
// start, a reset) or said nothing in time: only the first is the sign of a
// secret this side lacks.
func sentInstead(err error) bool {
	gone := errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	return !gone && !errors.Is(err, os.ErrDeadlineExceeded)
}

// privateDir makes sure dir exists, is a real directory owned by this
// user, and grants nothing to group or others.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("transport: socket directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("transport: socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("transport: socket directory %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("transport: socket directory %s has mode %v; it must be private (0700)", dir, perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("transport: socket directory %s belongs to uid %d, not to us (%d)", dir, st.Uid, os.Getuid())
	}
	return nil
}

// removeStale removes a socket file at path that no listener answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("transport: %s exists and is not a socket", path)
	}
	nc, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		nc.Close()
		return fmt.Errorf("transport: %s: a listener is already serving there", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("transport: remove stale socket: %w", err)
	}
	return nil
}

// Pair returns the two ends of a connected Unix socketpair, both
// close-on-exec. Keep local and hand remote to a child process through
// exec.Cmd.ExtraFiles (which clears close-on-exec in the child), then close
// remote in the parent. The child opens its end with [FileConn].
func Pair() (local, remote *os.File, err error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("transport: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "grove-socketpair-local"),
		os.NewFile(uintptr(fds[1]), "grove-socketpair-remote"), nil
}

// FileConn performs the handshake over a socket file (one end of [Pair],
// or the file descriptor a child inherited) and returns the Conn. It
// takes ownership of f and closes it. side must differ from the peer's:
// by convention the parent is the [Initiator].
func FileConn(ctx context.Context, f *os.File, side Side, opts ...Option) (*Conn, error) {
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", f.Name(), err)
	}
	return NewConn(ctx, nc, side, opts...)
}
