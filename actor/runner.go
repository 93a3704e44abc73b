package actor

import (
	"io"
	"sync"
	"syscall"
	"time"
)

// A runner is what an actor runs as, behind its Ref: a process of this
// host ([*Process]), a goroutine of this process (the goroutine backend),
// or a process on another host (a [Remote] from a [Placer]). supervise and
// stop drive every kind through it, so that the cancel ladder, Kill and the
// end states are one code path.
type runner interface {
	// signal sends sig to the actor's process and does not wait for it to
	// act on it (a remote's is bounded by remoteSignalTimeout).
	signal(sig syscall.Signal)
	// exited is closed once the process has ended and been waited for, or
	// its host was lost.
	exited() <-chan struct{}
	// drain waits, once exited is closed, until the actor's output has been
	// forwarded, for at most waitDelay (outputs.await); an actor on
	// the goroutine backend has no output of its own.
	drain()
	// result is how it ended, once exited is closed and drain has returned.
	result() runResult
}

// runResult is how an actor's process ended: cleanly (exit status 0), with
// a code or a signal, or with its host lost (nothing is known then but
// the time by which it is certainly dead).
type runResult struct {
	clean  bool
	code   int
	sig    syscall.Signal
	stderr string // the tail of its stderr: its own output's, else the one a remote reported
	lost   *HostLostError
}

// outputs forwards an actor's stdout and stderr, line by line, and keeps
// the tail of its stderr: one for a process of this host (OS pipes) or on
// another host (pipes fed by the Placer).
type outputs struct {
	wg      sync.WaitGroup
	once    sync.Once
	readers []io.Closer // closed when the output outlives waitDelay
	tail    tailBuffer
}

// start forwards stdout to out and stderr to errw, each line prefixed, on
// one goroutine each, which await joins; it closes the readers at their
// end.
func (o *outputs) start(stdout, stderr io.ReadCloser, out, errw io.Writer, prefix string) {
	o.readers = []io.Closer{stdout, stderr}
	o.wg.Add(2)
	go func() { defer o.wg.Done(); forward(stdout, out, prefix, nil); stdout.Close() }()
	go func() { defer o.wg.Done(); forward(stderr, errw, prefix, &o.tail); stderr.Close() }()
}

// await waits, once the process has exited, until its output has been
// forwarded, for at most waitDelay; then the readers are closed and what
// was not read is dropped. Concurrent callers all wait for the first.
func (o *outputs) await() {
	o.once.Do(func() {
		done := make(chan struct{})
		go func() { o.wg.Wait(); close(done) }()
		t := time.NewTimer(waitDelay)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			for _, c := range o.readers {
				c.Close() // the forwarders' reads end
			}
			<-done
		}
	})
}

// writers returns where an actor's stdout and stderr go: WithOutput's
// writer (this process's stderr by default), and WithStderr's for stderr.
func (c *config) writers(def io.Writer) (out, errw io.Writer) {
	out = c.output
	if out == nil {
		out = def
	}
	errw = c.stderr
	if errw == nil {
		errw = out
	}
	return out, errw
}
