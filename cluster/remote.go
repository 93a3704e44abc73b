package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/internal/subject"
	"github.com/grove-rt/grove/cluster/natslink"
)

// place asks the agent of host h to start the actor of spec, and returns
// it as an actor.Remote whose Conn is the natslink to it. A host known to
// be down, or without an agent subscribed (NATS's no-responders, a few
// microseconds), fails with an error matching actor.ErrHostUnavailable.
func (c *Cluster) place(ctx context.Context, h string, spec actor.PlaceSpec) (actor.Remote, error) {
	if why := c.m.knownDown(h); why != "" {
		return nil, fmt.Errorf("cluster: host %s is down (%s): %w", h, why, actor.ErrHostUnavailable)
	}
	if err := subject.Check("cluster: host", h, subject.MaxName); err != nil {
		return nil, fmt.Errorf("%w: %w", err, actor.ErrHostUnavailable)
	}
	req := spawnRequest{Name: spec.Actor.Name, ID: spec.Actor.ID, Parent: spec.Parent.String(), Build: spec.Build,
		Exe: spec.Exe, Args: spec.Args, Env: spec.Env, EnvOnly: spec.EnvOnly, Dir: spec.Dir,
		Caller: c.cfg.User, Link: newLinkID(), Dead: c.cfg.DeadInterval, Grace: spec.Grace, KillDelay: spec.KillDelay}
	msg, err := c.request(ctx, subject.Host(c.cfg.Name, h, "spawn"), encode(req))
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("cluster: host %s: no agent answers: %w", h, actor.ErrHostUnavailable)
		case errors.Is(err, actor.ErrNotAuthorized):
			return nil, fmt.Errorf("cluster: spawn on host %s: %w", h, err)
		}
		// The agent may have started the actor all the same: fence it.
		lost := &actor.HostLostError{Actor: spec.Actor, Host: h, Reason: "no answer to the spawn: " + err.Error(), DeadBy: c.fence(h, req.Link)}
		return nil, fmt.Errorf("cluster: spawn on host %s: %w: %w", h, actor.ErrHostUnavailable, lost)
	}
	var rep spawnReply
	if err := decode("spawn reply", msg.Data, &rep); err != nil {
		return nil, err
	}
	if rep.Err != nil {
		return nil, rep.Err.err(h)
	}
	r := &remote{c: c, host: h, linkID: req.Link, pid: rep.PID, incarnation: rep.Incarnation,
		grace: rep.OrphanGrace, stdout: spec.Stdout, stderr: spec.Stderr,
		exited: make(chan struct{}), lost: make(chan string, 1), wake: make(chan struct{}, 1), done: make(chan struct{}),
		logsDone: make(chan struct{})}
	// The link is made after the reply: what the agent sent before this
	// subscription is retransmitted (the peer's ping names its last seq).
	r.link, err = natslink.New(c.nc, natslink.Config{
		Send:         subject.Link(c.cfg.Name, h, c.cfg.User, req.Link, "up"),
		Recv:         subject.Link(c.cfg.Name, h, c.cfg.User, req.Link, "dn"),
		DeadInterval: c.cfg.DeadInterval,
		OnLog:        r.onLog,
		OnExit:       r.onExit,
	})
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = r.signal(sctx, syscall.SIGKILL)
		cancel()
		return nil, fmt.Errorf("cluster: spawn on host %s: %w", h, err)
	}
	c.m.addRemote(r)
	c.m.wg.Add(2)
	go r.watch()
	go r.writeLogs()
	return r, nil
}

// fenceTimeout bounds the SIGKILL that fences an unanswered spawn.
const fenceTimeout = time.Second

// fence makes sure that an actor the agent of h may have started for an
// unanswered spawn on link dies: a best-effort ctl SIGKILL, sent on a
// goroutine Close joins, and otherwise the orphan rule, since the link
// stays silent. It returns when the actor is certainly gone: T (the
// link's, at most ours), the agent's orphan grace (DefaultOrphanGrace:
// no reply said its own) and a margin of T/4.
func (c *Cluster) fence(h, link string) time.Time {
	deadBy := time.Now().Add(c.cfg.DeadInterval + c.cfg.DeadInterval/4 + DefaultOrphanGrace)
	req := encode(ctlRequest{Caller: c.cfg.User, Link: link, Signal: int(syscall.SIGKILL)})
	c.m.wg.Add(1)
	go func() {
		defer c.m.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), fenceTimeout)
		defer cancel()
		_, _ = c.request(ctx, subject.Host(c.cfg.Name, h, "ctl"), req)
	}()
	return deadBy
}

// remote is an actor running on another host, as its caller sees it.
type remote struct {
	c           *Cluster
	host        string
	linkID      string
	pid         int
	incarnation string
	grace       time.Duration // the agent's orphan grace
	link        *natslink.Link

	stdout, stderr io.Writer

	mu      sync.Mutex
	logs    []natslink.Log // received, not yet written
	queued  int            // the memory they hold (lineCost, logCost)
	dropped int            // lines dropped since the last write
	wake    chan struct{}  // a log arrived, or the exit did
	exit    *natslink.Exit
	exited  chan struct{} // closed once the exit arrived
	lost    chan string   // the reason the host was reported down
	lostOne sync.Once

	done   chan struct{}
	err    error       // set before done closes
	isLost atomic.Bool // the host was lost: closing the link waits for nothing
	// logsDone is closed by writeLogs once every log before the end has
	// been written.
	logsDone chan struct{}
}

func (r *remote) Conn() net.Conn        { return linkConn{r.link, r} }
func (r *remote) Host() string          { return r.host }
func (r *remote) PID() int              { return r.pid }
func (r *remote) Done() <-chan struct{} { return r.done }

func (r *remote) Wait() error {
	<-r.done
	return r.err
}

// Signal asks the agent to send sig to the actor, and returns once it has.
func (r *remote) Signal(ctx context.Context, sig syscall.Signal) error { return r.signal(ctx, sig) }

func (r *remote) signal(ctx context.Context, sig syscall.Signal) error {
	req := ctlRequest{Caller: r.c.cfg.User, Link: r.linkID, Signal: int(sig)}
	msg, err := r.c.request(ctx, subject.Host(r.c.cfg.Name, r.host, "ctl"), encode(req))
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("cluster: signal %v to pid %d on host %s: no agent answers: %w", sig, r.pid, r.host, actor.ErrHostUnavailable)
		}
		return fmt.Errorf("cluster: signal %v to pid %d on host %s: %w", sig, r.pid, r.host, err)
	}
	var rep ctlReply
	if err := decode("ctl reply", msg.Data, &rep); err != nil {
		return err
	}
	return rep.Err.err(r.host)
}

// linkConn is the Conn of a remote: its Close, once the host is lost or
// the actor's exit has arrived (the agent's fin follows it, and the agent
// may be gone), aborts the link: no fin, no wait for an ack that may not
// come (the bearer's Close waits for one up to a second).
type linkConn struct {
	*natslink.Link
	r *remote
}

// Read returns the link's end only once Done has reported it: the Ref
// takes a link that breaks while its process runs for the actor's fault,
// and the host's loss is the news.
func (c linkConn) Read(p []byte) (int, error) {
	n, err := c.Link.Read(p)
	if err != nil && c.Link.Err() != nil {
		<-c.r.done // closed by watch once the link has ended
	}
	return n, err
}

func (c linkConn) Close() error {
	select {
	case <-c.r.exited:
		c.Link.Abort()
	default:
		if c.r.isLost.Load() {
			c.Link.Abort()
		}
	}
	return c.Link.Close() // after Abort, nothing
}

// maxQueuedLog bounds the output lines received and not yet written (the
// Ref's writer may be slow, and the link's receiver must not wait for
// it); lines beyond it are dropped, and a line says how many.
const maxQueuedLog = 1 << 20

// lineCost and logCost are what a queued line and a queued Log hold in
// memory besides the line's bytes: a string header, a Log and its slice
// header. maxQueuedLog counts them, so that empty lines cost too.
const (
	lineCost = int(unsafe.Sizeof(""))
	logCost  = int(unsafe.Sizeof(natslink.Log{}))
)

// onLog and onExit run on the link's receive goroutine: they only queue.
func (r *remote) onLog(l natslink.Log) {
	size := logCost
	for _, line := range l.Lines {
		size += len(line) + lineCost
	}
	r.mu.Lock()
	if r.queued+size > maxQueuedLog {
		r.dropped += len(l.Lines)
	} else {
		r.queued += size
		r.logs = append(r.logs, l)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *remote) onExit(x natslink.Exit) {
	r.mu.Lock()
	if r.exit == nil {
		r.exit = &x
		close(r.exited)
	}
	r.mu.Unlock()
}

// lose reports the host down (a membership event).
func (r *remote) lose(reason string) {
	r.lostOne.Do(func() { r.lost <- reason })
}

// writeLogs writes the actor's output lines to the Ref's pipes, in order,
// until the end: the exit arrived (every line before it was queued before
// it) or the host was lost.
func (r *remote) writeLogs() {
	defer r.c.m.wg.Done()
	for {
		r.mu.Lock()
		logs, dropped := r.logs, r.dropped
		r.logs, r.queued, r.dropped = nil, 0, 0
		r.mu.Unlock()
		if dropped > 0 && r.stderr != nil {
			_, _ = fmt.Fprintf(r.stderr, "cluster: %d lines of output dropped: this process wrote them out more slowly than the actor wrote them\n", dropped)
		}
		for _, l := range logs {
			w := r.stdout
			if l.FD == 2 {
				w = r.stderr
			}
			for _, line := range l.Lines {
				if w != nil {
					_, _ = io.WriteString(w, line+"\n")
				}
			}
		}
		if len(logs) > 0 {
			continue
		}
		select {
		case <-r.wake:
		case <-r.done:
			return
		case <-r.ended():
			r.mu.Lock()
			empty := len(r.logs) == 0
			r.mu.Unlock()
			if empty {
				close(r.logsDone)
				<-r.done
				return
			}
		}
	}
}

// ended is closed when no more output will be written: the exit arrived.
func (r *remote) ended() <-chan struct{} { return r.exited }

// watch waits for the actor's end, or the host's loss, and reports it
// through Done; it then waits for the link's end (the Ref closes it) to
// drop the remote from the cluster's view.
func (r *remote) watch() {
	defer r.c.m.wg.Done()
	t := r.c.cfg.DeadInterval
	var lost *actor.HostLostError
	select {
	case <-r.exited:
		<-r.logsDone
		r.mu.Lock()
		x := r.exit
		r.mu.Unlock()
		if x.Code != 0 || x.Signal != 0 {
			r.err = &actor.ExitError{Host: r.host, Code: x.Code, Signal: syscall.Signal(x.Signal), Stderr: x.Stderr}
		}
	case <-r.link.Done():
		heard := r.link.LastHeard()
		lost = &actor.HostLostError{Host: r.host, Reason: "link ended", Silence: time.Since(heard)}
		var se *natslink.SilenceError
		if err := r.link.Err(); errors.As(err, &se) {
			lost.Reason, lost.Silence = "silent", se.Silence
		} else if err != nil {
			lost.Reason = "link ended: " + err.Error()
		}
		lost.DeadBy = r.deadBy(heard, t)
	case why := <-r.lost:
		heard := r.link.LastHeard()
		lost = &actor.HostLostError{Host: r.host, Reason: why, Silence: time.Since(heard), DeadBy: r.deadBy(heard, t)}
	}
	if lost != nil {
		r.err = lost
		r.isLost.Store(true)
	}
	close(r.done)
	if lost != nil {
		linkConn{r.link, r}.Close() // after Done, as actor.Remote asks
	}
	<-r.link.Done()
	r.c.m.removeRemote(r)
}

// deadBy is when the agent has certainly killed the actor, heard being
// the last time its link was heard from: its own silence bound (¼T after
// ours at most), its orphan grace, and a margin of T/4 (scaleout design
// §5.8).
func (r *remote) deadBy(heard time.Time, t time.Duration) time.Time {
	grace := r.grace
	if grace <= 0 {
		grace = DefaultOrphanGrace
	}
	return heard.Add(t + t/4 + grace + t/4)
}
