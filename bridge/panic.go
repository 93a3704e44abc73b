package bridge

import (
	"bytes"
	"runtime/debug"

	"github.com/grove-rt/grove/nursery"
)

// try runs fn and returns its panic, if any, as a *nursery.PanicError.
func try(fn func()) (pe *nursery.PanicError) {
	defer func() {
		if p := recover(); p != nil {
			pe = panicError(p)
		}
	}()
	fn()
	return nil
}

// panicError makes a recovered panic a *nursery.PanicError. Call it in the
// deferred function that recovered: its stack is trimmed of the recovery's
// own frames (this function, the deferred one, the runtime's panic), so that
// the function that panicked leads.
func panicError(p any) *nursery.PanicError {
	return &nursery.PanicError{Value: p, Stack: trimRecovery(debug.Stack())}
}

// trimRecovery drops, after the goroutine's header line, every frame down
// to the runtime's panic and the runtime frames right under it (a nil
// dereference's sigpanic). A stack without a panic frame is kept whole.
func trimRecovery(stack []byte) []byte {
	lines := bytes.SplitAfter(stack, []byte("\n"))
	at := -1
	for i, line := range lines {
		if bytes.HasPrefix(line, []byte("panic(")) {
			at = i
			break
		}
	}
	if at < 1 {
		return stack
	}
	rest := at + 2 // the panic frame: its function line and its file line
	for rest+1 < len(lines) && bytes.HasPrefix(lines[rest], []byte("runtime.")) {
		rest += 2
	}
	if rest >= len(lines) {
		return stack
	}
	out := append([]byte(nil), lines[0]...)
	for _, line := range lines[rest:] {
		out = append(out, line...)
	}
	return out
}
