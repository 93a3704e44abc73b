//go:build js

package bridge

import (
	"context"
	"fmt"
	"syscall/js"

	"github.com/sourcegraph/conc/panics"
)

// Promise is RunSync for JavaScript's event loop. A Go function called
// from JavaScript (js.FuncOf) runs on the event loop, and blocking in it
// deadlocks, as the syscall/js documentation warns. Promise returns a
// JavaScript function that, when called, starts fn on a goroutine of its own
// and returns at once a Promise that resolves with fn's result (converted
// with js.ValueOf: numbers, strings, booleans, []any, map[string]any, or a
// js.Value) or rejects with an Error carrying fn's error message (or the
// panic, or a result js.ValueOf cannot convert). fn runs under ctx's offload
// [Limiter]; cancelling ctx cancels it. Call Release on the returned
// js.Func when JavaScript no longer needs it.
func Promise[T any](ctx context.Context, fn func(ctx context.Context, args []js.Value) (T, error)) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) any {
		args = append([]js.Value(nil), args...) // they outlive this call
		var executor js.Func
		executor = js.FuncOf(func(_ js.Value, settle []js.Value) any {
			resolve, reject := settle[0], settle[1]
			go func() {
				held, taken, err := acquire(ctx, nil, nil)
				var v T
				if err == nil {
					if p := panics.Try(func() { v, err = fn(holding(ctx, held), args) }); p != nil {
						err = fmt.Errorf("bridge: panic: %v", p.Value)
					}
					taken.release()
				}
				if err == nil {
					var out js.Value
					if p := panics.Try(func() { out = js.ValueOf(any(v)) }); p != nil {
						err = fmt.Errorf("bridge: the result %T cannot cross to JavaScript: %v", v, p.Value)
					} else {
						resolve.Invoke(out)
						return
					}
				}
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
			}()
			return nil
		})
		defer executor.Release() // the Promise constructor calls it at once
		return js.Global().Get("Promise").New(executor)
	})
}
