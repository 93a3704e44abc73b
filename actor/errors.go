package actor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/grove-rt/grove/transport"
)

var (
	// ErrUnknownFunction is matched (through a RemoteError) by a call of a
	// function the actor has not registered.
	ErrUnknownFunction = errors.New("actor: unknown function")

	// ErrBadArgument is matched (through a RemoteError) by a call whose
	// arguments do not decode into the function's In type.
	ErrBadArgument = errors.New("actor: arguments do not decode into the function's input type")

	// ErrNoHandshake is matched when a spawned process did not complete the
	// handshake within the start timeout: it does not call actor.Main.
	ErrNoHandshake = errors.New("actor: no handshake from the child")
)

// The sentinel registry: errors.Is across the process boundary works for
// the sentinels registered here, by name, on both sides.
var sentinels = struct {
	sync.RWMutex
	byName map[string]error
	names  []string
}{byName: map[string]error{}}

// The sentinels registered by default: the standard library's common ones
// and the actor package's own.
func init() {
	RegisterError("context.Canceled", context.Canceled)
	RegisterError("context.DeadlineExceeded", context.DeadlineExceeded)
	RegisterError("io.EOF", io.EOF)
	RegisterError("io.ErrUnexpectedEOF", io.ErrUnexpectedEOF)
	RegisterError("io.ErrClosedPipe", io.ErrClosedPipe)
	RegisterError("fs.ErrNotExist", fs.ErrNotExist)
	RegisterError("fs.ErrExist", fs.ErrExist)
	RegisterError("fs.ErrPermission", fs.ErrPermission)
	RegisterError("fs.ErrInvalid", fs.ErrInvalid)
	RegisterError("fs.ErrClosed", fs.ErrClosed)
	RegisterError("os.ErrDeadlineExceeded", os.ErrDeadlineExceeded)
	RegisterError("net.ErrClosed", net.ErrClosed)
	RegisterError("errors.ErrUnsupported", errors.ErrUnsupported)
	RegisterError("actor.ErrUnknownFunction", ErrUnknownFunction)
	RegisterError("actor.ErrBadArgument", ErrBadArgument)
}

// RegisterError registers a sentinel error under a name, so that a remote
// error matching it (errors.Is in the actor) matches it again in the caller.
// Register the same sentinels in every process, typically in an init
// function or as a package-level variable:
//
//	var ErrQuota = errors.New("quota exceeded")
//
//	func init() { actor.RegisterError("billing.ErrQuota", ErrQuota) }
//
// The standard library's common sentinels are registered already:
// context.Canceled and DeadlineExceeded; io.EOF, ErrUnexpectedEOF and
// ErrClosedPipe; fs.ErrNotExist, ErrExist, ErrPermission, ErrInvalid and
// ErrClosed (the same values as os's); os.ErrDeadlineExceeded;
// net.ErrClosed; errors.ErrUnsupported. A duplicate name panics. Matching
// costs one errors.Is per registered sentinel for each error sent.
func RegisterError(name string, sentinel error) {
	if name == "" || sentinel == nil {
		panic("actor: RegisterError needs a name and a non-nil error")
	}
	sentinels.Lock()
	defer sentinels.Unlock()
	if _, dup := sentinels.byName[name]; dup {
		panic(fmt.Sprintf("actor: error %q registered twice", name))
	}
	sentinels.byName[name] = sentinel
	sentinels.names = append(sentinels.names, name)
}

// matchingSentinels lists the names of the registered sentinels err matches.
func matchingSentinels(err error) []string {
	sentinels.RLock()
	defer sentinels.RUnlock()
	var out []string
	for _, name := range sentinels.names {
		if errors.Is(err, sentinels.byName[name]) {
			out = append(out, name)
		}
	}
	return out
}

// PanicType is the Type of a RemoteError raised by a panic.
const PanicType = "panic"

// A RemoteError is an error returned (or a panic raised) by a function in
// another actor. errors.Is matches the sentinels the original matched, if
// they are registered with [RegisterError] on both sides.
type RemoteError struct {
	// Source is the actor where the error was raised.
	Source transport.ActorID
	// Type is the Go type name of the original error, or PanicType.
	Type string
	// Message is the original error's message (or the panic value).
	Message string
	// Stack is the remote stack of a panic, from the panic down. Go errors
	// carry no stack, so it is empty for a returned error.
	Stack string
	// Via is the relay path: the actors the error climbed through on its way
	// to the caller, nearest the source first.
	Via []transport.ActorID

	is []string
}

// Error reads like a traceback: where it happened, what, the path it took,
// and the remote stack.
func (e *RemoteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "actor %s: ", e.Source)
	if e.Type == PanicType {
		fmt.Fprintf(&b, "panic: %s", e.Message)
	} else {
		fmt.Fprintf(&b, "%s (%s)", e.Message, e.Type)
	}
	for _, hop := range e.Via {
		fmt.Fprintf(&b, "\n  via actor %s", hop)
	}
	if e.Stack != "" {
		fmt.Fprintf(&b, "\n\nremote stack of %s:\n%s", e.Source, strings.TrimRight(e.Stack, "\n"))
	}
	return b.String()
}

// Is reports whether the original error matched target, for registered
// sentinels.
func (e *RemoteError) Is(target error) bool {
	sentinels.RLock()
	defer sentinels.RUnlock()
	for _, name := range e.is {
		if sentinels.byName[name] == target {
			return true
		}
	}
	return false
}

// Panicked reports whether the remote function panicked.
func (e *RemoteError) Panicked() bool { return e.Type == PanicType }

func remoteError(ei *transport.ErrorInfo) *RemoteError {
	return &RemoteError{Source: ei.Source, Type: ei.Type, Message: ei.Message, Stack: ei.Stack, Via: ei.Via, is: ei.Is}
}

// errorInfo turns an error raised in this actor into its wire form. A
// RemoteError from further down the tree keeps its source and gains this
// actor on its relay path.
func errorInfo(self transport.ActorID, err error, stack string) *transport.ErrorInfo {
	var re *RemoteError
	if errors.As(err, &re) {
		via := append(append([]transport.ActorID(nil), re.Via...), self)
		msg := re.Message
		if outer := err.Error(); err != re && !strings.Contains(outer, "\n") {
			msg = outer // the caller wrapped it: keep its words
		}
		return &transport.ErrorInfo{Type: re.Type, Message: msg, Stack: re.Stack, Source: re.Source, Via: via, Is: re.is}
	}
	return &transport.ErrorInfo{
		Type:    fmt.Sprintf("%T", err),
		Message: err.Error(),
		Stack:   stack,
		Source:  self,
		Is:      matchingSentinels(err),
	}
}

// An ExitError is the end of an actor's process that nobody asked for:
// every call in flight on it fails with this error, and so does the
// actor's task in its nursery.
type ExitError struct {
	// Actor is the actor whose process ended.
	Actor transport.ActorID
	// Code is the exit code, or -1 if a signal ended the process.
	Code int
	// Signal is the signal that ended the process, if any.
	Signal syscall.Signal
	// Stderr is the last 4 KiB the process wrote to its standard error,
	// after the headline of a Go crash report (its first lines, up to
	// 1 KiB) when the tail no longer holds it, and a line "...".
	Stderr string
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "actor %s: process ", e.Actor)
	if e.Signal != 0 {
		fmt.Fprintf(&b, "killed by signal %s (%d)", signalName(e.Signal), int(e.Signal))
	} else {
		fmt.Fprintf(&b, "exited with code %d", e.Code)
	}
	if tail := strings.TrimRight(e.Stderr, "\n"); tail != "" {
		fmt.Fprintf(&b, "\nlast lines of its stderr:\n%s", tail)
	}
	return b.String()
}
