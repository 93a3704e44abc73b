package actor

import (
	"context"
	"fmt"
)

// waitersMoved is closed and replaced (under the registrar's lock) each
// time the Waits and Watches of a name begin or end.
var waitersMoved = make(chan struct{})

func init() {
	rootRegistrar().moved = func() {
		close(waitersMoved)
		waitersMoved = make(chan struct{})
	}
}

// UntilRegistrarWaiters returns once the root's registrar serves n Waits
// and Watches of name, or ctx's error (with the count) when ctx ends first.
func UntilRegistrarWaiters(ctx context.Context, name string, n int) error {
	r := rootRegistrar()
	for {
		r.mu.Lock()
		got := 0
		if s := r.names[name]; s != nil {
			got = s.waiters
		}
		moved := waitersMoved
		r.mu.Unlock()
		if got == n {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("%d waiters of %q, want %d: %w", got, name, n, ctx.Err())
		}
	}
}

// RegistrarHolds reports whether the root's registrar holds anything under
// name: a registration, or the state of a waiter or watcher.
func RegistrarHolds(name string) bool {
	r := rootRegistrar()
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.names[name]
	return ok
}

// EncodeItems encodes vs as an array with T's batch codec; ok is false
// when T has none.
func EncodeItems[T any](vs []T) (b []byte, ok bool) {
	c := codecOf[T]()
	if !c.fast() {
		return nil, false
	}
	b = appendArrayHeader(nil, len(vs))
	for _, v := range vs {
		b = c.write(b, v)
	}
	return b, true
}

// DecodeItems decodes the array b with T's batch codec; ok is false when
// the codec leaves it to msgpack.
func DecodeItems[T any](b []byte) ([]T, bool) {
	vs, n, ok := codecOf[T]().readArray(b, len(b), nil)
	return vs, ok && n == len(b)
}
