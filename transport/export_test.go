package transport

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Gate is the Listener's bound on handshakes, exported for tests.
type Gate struct{ g *gate }

// NewGate returns a gate of n slots.
func NewGate(n int) Gate { return Gate{newGate(n, evictAfter)} }

// NewGateWithHook returns a gate of n slots that calls evicted after each
// eviction, once the gate's lock is released.
func NewGateWithHook(n int, evicted func()) Gate {
	g := newGate(n, evictAfter)
	g.evicted = evicted
	return Gate{g}
}

// EvictAfter is how long a handshake is safe from eviction in a Gate.
const EvictAfter = evictAfter

// Admit waits for a slot for a handshake from remote. ctx ends when the
// handshake is evicted (its cause says why); proved marks it
// authenticated; release gives the slot back.
func (g Gate) Admit(ctx context.Context, remote net.Addr) (hctx context.Context, proved, release func(), err error) {
	p, hctx, err := g.g.admit(ctx, remote, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	return hctx, p.proved, p.release, nil
}

// ErrEvicted is the cause of an evicted handshake.
var ErrEvicted = errEvicted

// ReadEvent is what a ReadHook hears.
type ReadEvent = readEvent

// The events of a ReadHook.
const (
	ReadWanter  = readWanter  // a goroutine registered as a wanter of the read token
	ReadBlocked = readBlocked // a waiting goroutine holding the token blocks in its read
	ReadLoop    = readLoop    // a reader of last resort starts
)

// SetReadHook makes c call hook, with its reading's lock held, on each
// ReadEvent from now on.
func SetReadHook(c *Conn, hook func(ReadEvent)) {
	c.rd.mu.Lock()
	c.rd.hook = hook
	c.rd.mu.Unlock()
}

// SetReadHandoff sets how long c's read token may stay free before its
// watchdog starts a reader (ReadHandoff by default): from the next arming,
// or now if the watchdog is armed and has not fired.
func SetReadHandoff(c *Conn, d time.Duration) {
	c.rd.mu.Lock()
	c.rd.handoff, c.rd.wait = d, d
	if c.rd.armed && c.rd.timer.Stop() {
		c.rd.timer.Reset(d)
	}
	c.rd.mu.Unlock()
}

// ReadHandoff is the default of SetReadHandoff.
const ReadHandoff = readHandoff

// WithoutBatches makes a connection announce no batches, as a peer that
// predates them: it is sent only Yields, and a Batch is a violation.
func WithoutBatches() Option { return func(c *config) { c.batch = 0 } }

// MaxBatchItems is the most items a connection accepts in one Batch.
const MaxBatchItems = maxBatchItems

// Local returns the Hello this side of c sent (the peer's is [Conn.Peer]).
func (c *Conn) Local() Hello { return c.local }

// EncodeAsSender encodes m as a Conn sends it with payload, a Go value, in
// place of m.Payload: a Batch's items (payload, a []any) as sendItems
// encodes them (encodeItems), any other kind as encodeSplit does.
func EncodeAsSender(m *Message, payload any) ([]byte, error) {
	var fe frameEncoder
	if m.Kind == KindBatch {
		items, _ := payload.([]any)
		frame, _, k, err := fe.encodeItems(m.ID, items, maxBatchItems, maxBatchBytes)
		if err == nil && k != len(items) {
			err = fmt.Errorf("%d of %d items fit the Batch", k, len(items))
		}
		return frame, err
	}
	head, tail, err := fe.encodeSplit(m, payload)
	return append(head, tail...), err
}
