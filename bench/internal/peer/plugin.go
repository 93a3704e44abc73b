package peer

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// handshake is shared by the host and the plugin child; the magic cookie is
// also how ChildMain recognises a plugin child.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "GROVE_BENCH_PLUGIN",
	MagicCookieValue: "grove-bench-echo-6b1f3c",
}

const (
	// pluginName is the key of the echo plugin in the plugin set.
	pluginName = "echo"
	// echoMethod is the full gRPC method name of the hand-written service.
	echoMethod = "/grove.bench.Echo/Echo"
)

// echoService is the server side of the hand-written gRPC service
// grove.bench.Echo: one unary method taking and returning BytesValue.
type echoService interface {
	Echo(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

// echoServiceDesc is what protoc-gen-go-grpc would generate for
//
//	service Echo { rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue); }
//
// in package grove.bench, written by hand so that no generated code is needed.
var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: "grove.bench.Echo",
	HandlerType: (*echoService)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler:    echoHandler,
	}},
	Streams:  []grpc.StreamDesc{},
	Metadata: "grove/bench/echo.proto",
}

// echoHandler decodes the request and calls the service, through the
// server's interceptor when one is installed.
func echoHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.BytesValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(echoService)
	if interceptor == nil {
		return s.Echo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: echoMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return s.Echo(ctx, req.(*wrapperspb.BytesValue))
	})
}

// echoServer implements echoService in the plugin child.
type echoServer struct{}

func (echoServer) Echo(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return in, nil
}

// echoPlugin is the plugin.GRPCPlugin for the echo service. The embedded
// NetRPCUnsupportedPlugin makes it a plugin.Plugin that refuses net/rpc.
type echoPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

var _ plugin.GRPCPlugin = echoPlugin{}

// GRPCServer registers the echo service on the plugin child's server.
func (echoPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&echoServiceDesc, echoServer{})
	return nil
}

// GRPCClient returns the host's view of the plugin: the connection to call
// the echo method on.
func (echoPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

// pluginSet is the plugin set of both the host and the child.
func pluginSet() plugin.PluginSet {
	return plugin.PluginSet{pluginName: echoPlugin{}}
}

// lifelineFD is where the plugin child finds the read end of its lifeline
// pipe: the first entry of exec.Cmd.ExtraFiles.
const lifelineFD = 3

// servePlugin serves the echo plugin until the host shuts it down, or until
// the host's end of the lifeline is closed (the host gave up on the start,
// or died), in which case the process exits with status 1.
func servePlugin() {
	if f := os.NewFile(lifelineFD, "peer-plugin-lifeline"); f != nil {
		go func() {
			// A nil error is EOF; any other error means fd 3 is not a
			// lifeline, and the plugin then lives until shut down.
			if _, err := io.Copy(io.Discard, f); err == nil {
				os.Exit(1)
			}
		}()
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         pluginSet(),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          hclog.NewNullLogger(),
	})
}

// Plugin is a hashicorp/go-plugin plugin process speaking gRPC and serving
// one unary Echo method (bytes in, the same bytes out). The plugin is this
// same executable (os.Executable()) re-executed; ChildMain serves it there.
//
// A Plugin is safe for concurrent use: Echo may be called from many
// goroutines at once, and Close may race with them (calls then fail).
type Plugin struct {
	client   *plugin.Client
	conn     *grpc.ClientConn
	pid      int
	lifeline *os.File // write end of the child's lifeline pipe
	stderr   *tailBuffer

	closeOnce sync.Once
	closeErr  error
}

// StartPlugin starts the plugin process, negotiates go-plugin's handshake,
// dispenses the echo client and makes one warm-up Echo call, so the gRPC
// connection is established when it returns. It costs a fork/exec of this
// binary plus the handshake, typically a few tens of milliseconds.
//
// It blocks until the plugin is ready or ctx is done; ctx bounds the start
// only, not the life of the plugin. On error no process is left behind.
// The caller must Close the returned Plugin.
func StartPlugin(ctx context.Context) (*Plugin, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("peer: start plugin: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("peer: start plugin: %w", err)
	}

	// The lifeline is a pipe whose read end the child inherits as fd 3; the
	// child exits when it reads EOF, that is once the write end is closed
	// (by Close, or below when ctx ends during the start) or this process
	// dies. Cutting it is how a start is abandoned.
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("peer: start plugin: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = childEnv()
	cmd.ExtraFiles = []*os.File{lifeR}

	cfg := &plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          pluginSet(),
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env already holds the environment
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
		SyncStdout:       nil,
		SyncStderr:       nil,
		Managed:          false,
	}
	stderr := newTailBuffer(4 << 10)
	cfg.Stderr = stderr
	client := plugin.NewClient(cfg)

	type started struct {
		conn *grpc.ClientConn
		err  error
	}
	done := make(chan started, 1)
	go func() {
		rpc, err := client.Client()
		if err != nil {
			done <- started{err: err}
			return
		}
		raw, err := rpc.Dispense(pluginName)
		if err != nil {
			done <- started{err: err}
			return
		}
		conn, ok := raw.(*grpc.ClientConn)
		if !ok {
			done <- started{err: fmt.Errorf("dispensed %T, want *grpc.ClientConn", raw)}
			return
		}
		done <- started{conn: conn}
	}()

	var res started
	select {
	case res = <-done:
	case <-ctx.Done():
		// The child exits on the cut lifeline, so the handshake fails promptly.
		_ = lifeW.Close()
		res = <-done
	}
	_ = lifeR.Close() // the child, if started, holds its own copy
	p := &Plugin{client: client, conn: res.conn, lifeline: lifeW, stderr: stderr}
	if cmd.Process != nil {
		p.pid = cmd.Process.Pid
	}
	if res.err == nil {
		_, res.err = p.Echo(ctx, []byte("warm"))
	}
	if res.err != nil {
		_ = p.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			// go-plugin's own report of the cut start only misleads.
			return nil, fmt.Errorf("peer: start plugin: %w", ctxErr)
		}
		return nil, fmt.Errorf("peer: start plugin: %w%s", res.err, withStderr(stderr))
	}
	return p, nil
}

// Echo sends b to the plugin and returns what it sent back: one gRPC unary
// round trip over go-plugin's Unix socket, including protobuf encoding of
// both messages. It blocks until the reply arrives or ctx is done. An empty
// b comes back as an empty (possibly nil) slice.
func (p *Plugin) Echo(ctx context.Context, b []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := p.conn.Invoke(ctx, echoMethod, wrapperspb.Bytes(b), out); err != nil {
		return nil, fmt.Errorf("peer: plugin echo: %w", err)
	}
	return out.GetValue(), nil
}

// PID returns the plugin process's pid. It costs nothing and stays valid
// (as a number) after Close.
func (p *Plugin) PID() int { return p.pid }

// Close shuts the plugin down and waits for it: go-plugin asks the child to
// stop over gRPC, waits up to two seconds for it to exit, then kills it,
// and in every case reaps the process and waits for its own goroutines.
// It blocks for as long as that takes, usually a few milliseconds. Close is
// idempotent; later calls return the first call's result.
func (p *Plugin) Close() error {
	p.closeOnce.Do(func() {
		p.client.Kill()
		_ = p.lifeline.Close() // may already be closed by a cancelled start
		if !p.client.Exited() && p.pid != 0 {
			p.closeErr = fmt.Errorf("peer: close plugin: pid %d has not exited", p.pid)
		}
	})
	return p.closeErr
}
