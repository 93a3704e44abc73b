package actor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/grove-rt/grove/transport"
)

// The functions of the debug socket, served by ServeDebug's connections
// only (an actor's link does not serve them): a debugArgs in, a TreeInfo
// or the dump's text out.
const (
	debugTreeFunc   = "grove.debug.tree"
	debugStacksFunc = "grove.debug.stacks"
)

// debugConnLife bounds how long a debug connection may stay open: a
// client asks and goes.
const debugConnLife = time.Minute

// maxDebugConns bounds the debug connections served at once: past it, a
// new one is closed as soon as it is accepted, so that a client that
// connects in a loop and never hangs up holds at most this many
// connections (and their goroutines) for debugConnLife.
const maxDebugConns = 16

// ErrNoDebug is matched by the error of [DebugTree] and [DebugStacks] for a
// process that serves no debug socket: it did not opt in with
// [ServeDebug], or it has stopped serving.
var ErrNoDebug = errors.New("actor: the process serves no debug socket: call actor.ServeDebug in that program to opt in")

// A DebugServer serves the tree view of its process on a Unix socket:
// see [ServeDebug].
type DebugServer struct {
	sv     *server
	ln     *transport.Listener
	path   string
	ctx    context.Context
	cancel context.CancelFunc
	stop   func() bool
	slots  chan struct{} // one per connection served: maxDebugConns
	wg     sync.WaitGroup
	once   sync.Once
}

// ServeDebug serves this process's tree ([Tree]) and stacks
// ([DumpStacks]) on a Unix socket, for `go run
// github.com/grove-rt/grove/cmd/grove ps PID` (and `stacks PID`), or
// [DebugTree] and [DebugStacks]. Like net/http/pprof it is opt-in: nothing
// listens unless a program calls it. The socket is [DebugSocket] of this
// process's pid, in a directory of mode 0700 that must belong to this
// user; every connection's uid is checked with SO_PEERCRED and must be
// this process's. On systems without SO_PEERCRED (anything but Linux) it
// refuses with an error matching [errors.ErrUnsupported].
//
// It serves from the caller down, as Tree does with ctx, until ctx ends or
// Close is called; its socket is then removed. It owns a goroutine that
// accepts and one per connection (each closed after a minute at most);
// Close joins them all, so call Close even after ctx ended. It serves 16
// connections at once, and closes any more as soon as it accepts them. A
// second ServeDebug in the same process fails while the first serves.
func ServeDebug(ctx context.Context) (*DebugServer, error) {
	if ctx == nil {
		return nil, errors.New("actor: ServeDebug: nil ctx: pass a ctx (or context.Background())")
	}
	if err := debugSupport(runtime.GOOS); err != nil {
		return nil, fmt.Errorf("actor: ServeDebug: %w", err)
	}
	d := &DebugServer{sv: serverFor(ctx), path: DebugSocket(os.Getpid()), slots: make(chan struct{}, maxDebugConns)}
	ln, err := listenUnix(d.path, transport.WithIdentity(identity(ctx), "debug"), transport.WithHandler(d.handle))
	if err != nil {
		return nil, fmt.Errorf("actor: ServeDebug: %w", err)
	}
	d.ln = ln
	d.ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.stop = context.AfterFunc(ctx, d.cancel)
	d.wg.Go(d.accept)
	return d, nil
}

// Path returns the socket's path.
func (d *DebugServer) Path() string { return d.path }

// Close stops serving, closes the connections, removes the socket and
// returns once every goroutine of the server has exited.
func (d *DebugServer) Close() error {
	var err error
	d.once.Do(func() {
		d.stop()
		d.cancel()
		err = d.ln.Close() // removes the socket file
		d.wg.Wait()
	})
	return err
}

// accept hands each connection to a goroutine that closes it once the
// client hangs up, the server stops, or debugConnLife has passed; past
// maxDebugConns at once it closes the connection itself.
func (d *DebugServer) accept() {
	defer d.ln.Close() // ctx ended: the socket goes at once
	for {
		c, err := d.ln.Accept(d.ctx)
		if err != nil {
			return
		}
		select {
		case d.slots <- struct{}{}:
		default:
			c.Close() // too many at once (its handler, if any, sees its ctx end)
			continue
		}
		d.wg.Go(func() {
			defer func() { <-d.slots }()
			t := time.NewTimer(debugConnLife)
			defer t.Stop()
			select {
			case <-c.Done():
			case <-d.ctx.Done():
			case <-t.C:
			}
			c.Close() // waits for its handler
		})
	}
}

// handle serves one request of a debug client.
func (d *DebugServer) handle(s *transport.Stream) {
	me := identity(d.sv.root)
	var a debugArgs
	if err := s.DecodeArgs(&a); err != nil {
		_ = s.Fail(context.Background(), errorInfo(me, fmt.Errorf("%w: %s: %v", ErrBadArgument, s.Func(), err), ""))
		return
	}
	ctx, cancel := context.WithTimeout(s.Context(), min(max(a.Budget, 0), maxDebugBudget))
	defer cancel()
	var out any
	switch s.Func() {
	case debugTreeFunc:
		out = d.sv.tree(ctx)
	case debugStacksFunc:
		var buf bytes.Buffer
		_ = writeStacks(&buf, d.sv.stacks(ctx, false, dumpBudget(a)))
		out = buf.Bytes()
	default:
		_ = s.Fail(context.Background(), errorInfo(me, unknownFunction(s.Func(), me), ""))
		return
	}
	_ = s.Return(context.Background(), out)
}

// DebugSocket returns the path of the debug socket that [ServeDebug]
// listens on in process pid: $XDG_RUNTIME_DIR/grove/debug-PID.sock when
// XDG_RUNTIME_DIR is set (to an absolute path), else
// grove-UID/debug-PID.sock under [os.TempDir].
func DebugSocket(pid int) string { return debugSockets(pid)[0] }

// debugSockets are the places a debug socket of pid may be, the one
// ServeDebug uses first: a client whose environment differs from the
// server's looks in both.
func debugSockets(pid int) []string {
	name := "debug-" + strconv.Itoa(pid) + ".sock"
	var out []string
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		out = append(out, filepath.Join(x, "grove", name))
	}
	return append(out, filepath.Join(os.TempDir(), fmt.Sprintf("grove-%d", os.Getuid()), name))
}

// DebugTree returns the tree of process pid, which serves it with
// [ServeDebug]: the client of `grove ps PID`. ctx bounds it
// (DefaultDebugTimeout without a deadline). A process that does not exist,
// one that does not serve (matching [ErrNoDebug]) and one of another user
// each get an error that says so; where no program can serve (anything but
// Linux, as ServeDebug) it fails at once, matching [errors.ErrUnsupported].
func DebugTree(ctx context.Context, pid int) (TreeInfo, error) {
	var t TreeInfo
	err := debugCall(ctx, pid, debugTreeFunc, &t)
	return t, err
}

// DebugStacks writes the stacks of process pid's tree, which it serves
// with [ServeDebug], to w, as [DumpStacks] writes them: the client of
// `grove stacks PID`. Its errors are [DebugTree]'s, and w's.
func DebugStacks(ctx context.Context, pid int, w io.Writer) error {
	var text []byte
	if err := debugCall(ctx, pid, debugStacksFunc, &text); err != nil {
		return err
	}
	_, err := w.Write(text)
	return err
}

// debugCall makes one request of process pid's debug socket.
func debugCall(ctx context.Context, pid int, fn string, out any) error {
	if ctx == nil {
		return errors.New("actor: debug client: nil ctx: pass a ctx (or context.Background())")
	}
	ctx, cancel := debugBound(ctx)
	defer cancel()
	c, err := dialDebug(ctx, pid)
	if err != nil {
		return err
	}
	defer c.Close()
	d, _ := ctx.Deadline()
	s, err := c.Call(ctx, fn, debugArgs{Budget: time.Until(d) * 3 / 4})
	if err != nil {
		return fmt.Errorf("actor: process %d's debug socket: %w", pid, err)
	}
	defer s.Close()
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			return fmt.Errorf("actor: process %d's debug socket: %w", pid, err)
		}
		switch m.Kind {
		case transport.KindReturn:
			var raw msgpack.RawMessage
			err := m.Decode(&raw)
			if err == nil {
				err = decodeDebug(raw, out)
			}
			if err != nil {
				return fmt.Errorf("actor: process %d's debug socket: its answer: %w", pid, err)
			}
			return nil
		case transport.KindError:
			return fmt.Errorf("actor: process %d's debug socket: %w", pid, remoteError(m.Err))
		}
	}
}

// debugSupport says whether goos can serve a debug socket: Linux only,
// since each client's uid is checked with SO_PEERCRED. Its error wraps
// errors.ErrUnsupported and names goos.
func debugSupport(goos string) error {
	if goos == "linux" {
		return nil
	}
	return fmt.Errorf("the debug socket checks each client's uid with SO_PEERCRED, which %s lacks: %w",
		goos, errors.ErrUnsupported)
}

// dialDebug connects to process pid's debug socket, explaining why not.
func dialDebug(ctx context.Context, pid int) (*transport.Conn, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("actor: debug client: pid %d: give the pid of a running program", pid)
	}
	if err := debugSupport(runtime.GOOS); err != nil {
		// No program here can have opted in: say so, not ErrNoDebug.
		return nil, fmt.Errorf("actor: debug client: no program can serve a debug socket here: %w", err)
	}
	if err := processExists(pid); err != nil {
		return nil, err
	}
	paths := debugSockets(pid)
	for _, path := range paths {
		c, err := dialUnix(ctx, path, transport.WithIdentity(identity(ctx), "debug-client"))
		switch {
		case err == nil:
			return c, nil
		case socketGone(err):
			continue
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, transport.ErrAuth):
			return nil, fmt.Errorf("actor: process %d's debug socket %s: permission denied: "+
				"the program runs as another user; run grove as that user: %w", pid, path, err)
		default:
			return nil, fmt.Errorf("actor: process %d's debug socket %s: %w", pid, path, err)
		}
	}
	return nil, fmt.Errorf("%w (process %d, looked for %v)", ErrNoDebug, pid, paths)
}
