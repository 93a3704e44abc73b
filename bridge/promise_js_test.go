//go:build js

package bridge_test

import (
	"context"
	"errors"
	"slices"
	"syscall/js"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/bridge"
	"github.com/grove-rt/grove/pool"
)

// settle waits for a JavaScript Promise and returns its value or its
// rejection's message.
func settle(t *testing.T, promise js.Value) (js.Value, string) {
	t.Helper()
	type outcome struct {
		v   js.Value
		msg string
	}
	done := make(chan outcome, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any { done <- outcome{v: args[0]}; return nil })
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- outcome{msg: args[0].Get("message").String()}
		return nil
	})
	defer onOK.Release()
	defer onErr.Release()
	promise.Call("then", onOK, onErr)
	o := <-done // the Go side blocks; JavaScript's loop runs the callbacks
	return o.v, o.msg
}

func TestPromise(t *testing.T) {
	p, err := pool.New(context.Background(), pool.WithWorkers(2))
	require.NoError(t, err)
	defer p.Close()

	sumOfSquares := bridge.Promise(context.Background(), func(ctx context.Context, args []js.Value) (int, error) {
		n := args[0].Int()
		if n < 0 {
			return 0, errors.New("n must not be negative")
		}
		total := 0
		// Blocking pool work, which would deadlock on JavaScript's loop.
		for v, err := range pool.Map(ctx, p, square, slices.Values(rangeSlice(n))) {
			if err != nil {
				return 0, err
			}
			total += v
		}
		return total, nil
	})
	defer sumOfSquares.Release()

	v, msg := settle(t, sumOfSquares.Invoke(10))
	require.Empty(t, msg)
	require.Equal(t, 285, v.Int(), "0²+1²+…+9²")

	_, msg = settle(t, sumOfSquares.Invoke(-1))
	require.Equal(t, "n must not be negative", msg, "a Go error rejects the Promise")
}

func rangeSlice(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
