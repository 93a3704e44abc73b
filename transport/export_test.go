package transport

import (
	"context"
	"net"
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

// WithoutBatches makes a connection announce no batches, as a peer that
// predates them: it is sent only Yields, and a Batch is a violation.
func WithoutBatches() Option { return func(c *config) { c.batch = 0 } }

// MaxBatchItems is the most items a connection accepts in one Batch.
const MaxBatchItems = maxBatchItems
