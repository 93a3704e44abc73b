package actor

import (
	"context"
	"net"
	"os"
	"syscall"

	"github.com/grove-rt/grove/transport"
)

// startGoroutine starts an actor on the goroutine backend: the same
// registered functions, served in this process over an in-memory pipe with
// the same wire, so arguments and results are encoded exactly as across
// processes (no shared-memory aliasing), panics become RemoteErrors, and
// calls, streams, cancels and stops behave the same. What cannot exist in
// process: an exit code or a signal (the actor never dies on its own; a
// crash of its code is the whole program's crash), forced termination (a
// function that ignores its ctx is abandoned after the kill delay), its own
// stdout and stderr (they are this process's), and a pid of its own.
func startGoroutine(ctx context.Context, name string, cfg config) (*Ref, error) {
	parentEnd, childEnd := net.Pipe()
	id := transport.ActorID{Name: name, ID: newID(), PID: os.Getpid(), Host: cfg.hostFor(ctx)}
	sv := newServer(context.WithValue(context.Background(), identityKey{}, id), id)
	sv.backend = BackendGoroutine
	run := &goroutineRunner{done: make(chan struct{}), cancel: func() { sv.cancel(errEndedByParent) }}
	r := newRef(ctx, id, cfg, run)
	served := make(chan error, 1)
	go func() {
		defer close(run.done)
		conn, err := transport.NewConn(sv.root, childEnd, transport.Responder,
			transport.WithIdentity(id, "child"), transport.WithHandler(sv.handle), transport.WithBaseContext(sv.root))
		served <- err
		if err != nil {
			return
		}
		sv.setLink(conn)
		select {
		case <-sv.root.Done(): // stopped: the calls answer within the grace period
			sv.settle(errEndedByParent, after(sv.gracePeriod()), nil, conn.Done())
		case <-conn.Done(): // the parent's end is gone
		}
		sv.cancel(errParentGone)
		// The peers' connections are cut first, and joined last: a peer's
		// call that ignores its ctx must not keep the parent's answers
		// from being flushed (the actor is abandoned after the kill delay).
		sv.host.close()
		sv.links.close(id, context.Cause(sv.root))
		conn.Close()   // flushes the answers, then waits for the calls that did not answer
		sv.host.wait() // the peers' calls
	}()
	conn, err := transport.NewConn(ctx, parentEnd, transport.Initiator,
		transport.WithIdentity(identity(ctx), "parent"), transport.WithHandler(r.serveChild))
	if err == nil {
		err = <-served
	}
	if err != nil {
		sv.cancel(errParentGone)
		parentEnd.Close()
		childEnd.Close()
		<-run.done
		return nil, err
	}
	r.conn = conn
	return r, nil
}

// goroutineRunner is the runner of an actor on the goroutine backend: it
// has no process, so any signal cancels the actor (its Ref also cuts the
// link), and it always ends cleanly.
type goroutineRunner struct {
	done   chan struct{} // closed once the actor's serving goroutine has returned
	cancel func()
}

func (g *goroutineRunner) signal(syscall.Signal) { g.cancel() }

func (g *goroutineRunner) exited() <-chan struct{} { return g.done }

func (g *goroutineRunner) drain() {}

func (g *goroutineRunner) result() runResult { return runResult{clean: true} }
