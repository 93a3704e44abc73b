package main

import (
	"context"
	"crypto/sha256"

	"github.com/grove-rt/grove/actor"
)

// The actor functions the figures call. Every process of the binary
// registers them at start-up, as actor.Func requires.
var (
	// echo returns its payload: the call round trip.
	echo = actor.Func("bench.echo", func(_ context.Context, b []byte) ([]byte, error) { return b, nil })

	// noop returns its argument: the tiny task of the pool figures.
	noop = actor.Func("bench.noop", func(_ context.Context, x int) (int, error) { return x, nil })

	// items streams n items of itemSize bytes.
	items = actor.StreamFunc("bench.items", func(ctx context.Context, n int, out chan<- []byte) error {
		item := make([]byte, itemSize)
		for range n {
			select {
			case out <- item:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})

	// busy says it has started, then keeps a CPU busy until its context
	// is cancelled: a cooperative function.
	busy = actor.StreamFunc("bench.busy", func(ctx context.Context, _ int, out chan<- int) error {
		out <- 1
		x := uint64(1)
		for i := 0; ; i++ {
			x = spin(x)
			if i%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
	})

	// deaf says it has started, then keeps a CPU busy and never looks
	// at its context: only signals end it.
	deaf = actor.StreamFunc("bench.deaf", func(_ context.Context, _ int, out chan<- int) error {
		out <- 1
		x := uint64(1)
		for {
			x = spin(x)
		}
	})

	// work is a CPU-bound task of fixed size: the pool scaling curve.
	work = actor.Func("bench.work", func(_ context.Context, rounds int) ([]byte, error) {
		return cpuWork(rounds), nil
	})
)

// itemSize is the size of a streamed item, for grove and its floor alike.
const itemSize = 16

// spin is one step of a linear congruential generator: work the compiler
// cannot remove.
func spin(x uint64) uint64 { return x*6364136223846793005 + 1442695040888963407 }

// cpuWork hashes a block rounds times: a task that only needs a CPU.
func cpuWork(rounds int) []byte {
	sum := sha256.Sum256([]byte("grove"))
	for range rounds {
		sum = sha256.Sum256(sum[:])
	}
	return sum[:]
}
