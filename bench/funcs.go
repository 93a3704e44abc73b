package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"github.com/grove-rt/grove/actor"
)

// The actor functions the figures call. Every process of the binary
// registers them at start-up, as actor.Func requires.
var (
	// echo returns its payload: the call round trip.
	echo = actor.Func("bench.echo", func(_ context.Context, b []byte) ([]byte, error) { return b, nil })

	// registerEcho registers the actor under a name, exposing echo, for
	// as long as it lives: the discovery figures.
	registerEcho = actor.Func("bench.registerEcho", func(ctx context.Context, name string) (uint64, error) {
		reg, err := actor.Register(ctx, name, actor.Expose(echo))
		if err != nil {
			return 0, err
		}
		return reg.Revision(), nil
	})

	// inActor performs an operation of the discovery figures in the actor,
	// N times (see repeatOp).
	inActor = actor.Func("bench.inActor", func(ctx context.Context, op repeatOp) (int, error) {
		var ref *actor.Ref
		if op.Op == "call" {
			var err error
			if ref, err = actor.Find(ctx, op.Name); err != nil {
				return 0, err
			}
		}
		payload := make([]byte, smallPayload)
		for i := range op.N {
			var err error
			switch op.Op {
			case "find":
				_, err = actor.Find(ctx, op.Name)
			case "call":
				_, err = echo.Call(ctx, ref, payload)
			default:
				err = fmt.Errorf("bench.inActor: no operation %q", op.Op)
			}
			if err != nil {
				return i, err
			}
		}
		return op.N, nil
	})

	// crash ends the actor's process with status 3: the restart figure.
	crash = actor.Func("bench.crash", func(context.Context, int) (int, error) {
		os.Exit(3)
		return 0, nil
	})

	// nap sleeps ms milliseconds, or until its context ends, and returns
	// ms: a task in flight for the pool crash figure.
	nap = actor.Func("bench.nap", func(ctx context.Context, ms int) (int, error) {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})

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

	// hold sends one item, then waits for its context's end: a stream in
	// flight for the fault figures.
	hold = actor.StreamFunc("bench.hold", func(ctx context.Context, _ int, out chan<- int) error {
		out <- 1
		<-ctx.Done()
		return ctx.Err()
	})

	// work is a CPU-bound task of fixed size: the pool scaling curve.
	work = actor.Func("bench.work", func(_ context.Context, rounds int) ([]byte, error) {
		return cpuWork(rounds), nil
	})
)

// repeatOp is what inActor performs N times: "find" Find Name, or "call"
// echo with 64 bytes on the Ref that a Find of Name gave (the Find before
// the N calls).
type repeatOp struct {
	Op, Name string
	N        int
}

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
