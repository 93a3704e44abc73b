package peer

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// netRPCFD is the descriptor the net/rpc child finds its socket on: the
// first entry of exec.Cmd.ExtraFiles.
const netRPCFD = 3

// echoRPC is the net/rpc service served by the child under the name "Echo".
type echoRPC struct{}

// Echo replies with its argument.
func (echoRPC) Echo(args []byte, reply *[]byte) error {
	*reply = args
	return nil
}

// serveNetRPC serves echoRPC on the inherited socket until the parent closes
// its end, and returns the process exit code.
func serveNetRPC() int {
	f := os.NewFile(netRPCFD, "peer-netrpc-child")
	if f == nil {
		fmt.Fprintln(os.Stderr, "peer: net/rpc child: no socket on fd 3")
		return 2
	}
	conn, err := net.FileConn(f)
	_ = f.Close() // FileConn holds its own duplicate
	if err != nil {
		fmt.Fprintf(os.Stderr, "peer: net/rpc child: %v\n", err)
		return 2
	}
	srv := rpc.NewServer()
	if err := srv.RegisterName("Echo", echoRPC{}); err != nil {
		fmt.Fprintf(os.Stderr, "peer: net/rpc child: %v\n", err)
		return 2
	}
	srv.ServeConn(conn) // returns on EOF and closes conn
	return 0
}

// gobClientCodec is the gob wire format of net/rpc's own client codec (a
// gob-encoded rpc.Request then the body; responses likewise), so it talks to
// rpc.ServeConn unchanged. Unlike the standard one it reports, by closing
// readFailed, when a read has failed: rpc.Client's reader goroutine stops
// reading at its first read error, so Close can wait for that instead of
// leaving the goroutine behind.
type gobClientCodec struct {
	rwc    io.ReadWriteCloser
	dec    *gob.Decoder
	enc    *gob.Encoder
	encBuf *bufio.Writer

	readOnce   sync.Once
	readFailed chan struct{}
}

func newGobClientCodec(rwc io.ReadWriteCloser) *gobClientCodec {
	buf := bufio.NewWriter(rwc)
	return &gobClientCodec{
		rwc:        rwc,
		dec:        gob.NewDecoder(rwc),
		enc:        gob.NewEncoder(buf),
		encBuf:     buf,
		readFailed: make(chan struct{}),
	}
}

// WriteRequest implements rpc.ClientCodec; rpc.Client serialises calls.
func (c *gobClientCodec) WriteRequest(r *rpc.Request, body any) error {
	if err := c.enc.Encode(r); err != nil {
		return err
	}
	if err := c.enc.Encode(body); err != nil {
		return err
	}
	return c.encBuf.Flush()
}

// ReadResponseHeader implements rpc.ClientCodec.
func (c *gobClientCodec) ReadResponseHeader(r *rpc.Response) error { return c.read(r) }

// ReadResponseBody implements rpc.ClientCodec.
func (c *gobClientCodec) ReadResponseBody(body any) error { return c.read(body) }

func (c *gobClientCodec) read(v any) error {
	err := c.dec.Decode(v)
	if err != nil {
		c.readOnce.Do(func() { close(c.readFailed) })
	}
	return err
}

// Close implements rpc.ClientCodec by closing the connection.
func (c *gobClientCodec) Close() error { return c.rwc.Close() }

// NetRPC is the standard library's net/rpc, gob-encoded, served by a child
// process (this executable re-executed; ChildMain serves it there) over an
// inherited AF_UNIX SOCK_STREAM socketpair. Its one service method echoes a
// []byte.
//
// A NetRPC is safe for concurrent use; net/rpc pipelines concurrent calls
// over the one connection.
type NetRPC struct {
	client *rpc.Client
	codec  *gobClientCodec
	cmd    *exec.Cmd
	stderr *tailBuffer

	closeOnce sync.Once
	closeErr  error
}

// StartNetRPC creates the socketpair, starts the child with its end as fd 3
// and makes one warm-up Echo call, so the child is serving when it returns.
// It costs a fork/exec of this binary, typically a few milliseconds, and
// blocks until the warm-up reply arrives. On error no process is left
// behind. The caller must Close the returned NetRPC.
func StartNetRPC() (*NetRPC, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("peer: start net/rpc: %w", err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("peer: start net/rpc: socketpair: %w", err)
	}
	parentEnd := os.NewFile(uintptr(fds[0]), "peer-netrpc-parent")
	childEnd := os.NewFile(uintptr(fds[1]), "peer-netrpc-child")

	cmd := exec.Command(exe)
	cmd.Env = append(childEnv(), netRPCEnv+"="+netRPCValue)
	cmd.ExtraFiles = []*os.File{childEnd} // becomes fd 3, without CLOEXEC
	stderr := newTailBuffer(4 << 10)
	cmd.Stderr = stderr

	err = cmd.Start()
	_ = childEnd.Close() // the child has its copy; EOF must reach it when we close ours
	if err != nil {
		_ = parentEnd.Close()
		return nil, fmt.Errorf("peer: start net/rpc: %w", err)
	}
	conn, err := net.FileConn(parentEnd)
	_ = parentEnd.Close() // FileConn holds its own duplicate
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("peer: start net/rpc: %w", err)
	}

	codec := newGobClientCodec(conn)
	r := &NetRPC{
		client: rpc.NewClientWithCodec(codec),
		codec:  codec,
		cmd:    cmd,
		stderr: stderr,
	}
	if _, err := r.Echo([]byte("warm")); err != nil {
		closeErr := r.Close()
		return nil, fmt.Errorf("peer: start net/rpc: warm-up: %w (close: %v)", err, closeErr)
	}
	return r, nil
}

// Echo sends b to the child and returns what it sent back: one net/rpc round
// trip with gob encoding over the socketpair. It blocks until the reply
// arrives or the connection fails; after Close it fails with an error
// matching rpc.ErrShutdown. An empty b comes back as an empty (possibly nil)
// slice.
func (r *NetRPC) Echo(b []byte) ([]byte, error) {
	var reply []byte
	if err := r.client.Call("Echo.Echo", b, &reply); err != nil {
		return nil, fmt.Errorf("peer: net/rpc echo: %w", err)
	}
	return reply, nil
}

// Close closes the socket, which the child sees as EOF and exits on, then
// waits for rpc.Client's reader goroutine to stop reading and for the child
// to be reaped. It blocks for as long as the child takes to exit, usually
// well under a millisecond after any in-flight call. Close is idempotent;
// later calls return the first call's result.
func (r *NetRPC) Close() error {
	r.closeOnce.Do(func() {
		closeErr := r.client.Close()
		<-r.codec.readFailed
		if err := r.cmd.Wait(); err != nil {
			r.closeErr = fmt.Errorf("peer: close net/rpc: child: %w%s", err, withStderr(r.stderr))
			return
		}
		if closeErr != nil {
			r.closeErr = fmt.Errorf("peer: close net/rpc: %w", closeErr)
		}
	})
	return r.closeErr
}
