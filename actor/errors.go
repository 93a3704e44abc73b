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

	"github.com/grove-rt/grove/nursery"
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
	RegisterError(transport.TooManyStreamsName, transport.ErrTooManyStreams)
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
// net.ErrClosed; errors.ErrUnsupported; and transport.ErrTooManyStreams
// (a call refused at the actor's stream limit). A duplicate name panics.
// Matching costs one errors.Is per registered sentinel for each error sent.
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
	// Stack is the remote stack of a panic, from the panic down, with the
	// user's frames first (the runtime's and grove's are left out). Go
	// errors carry no stack, so it is empty for a returned error.
	Stack string
	// Via is the relay path: the actors the error climbed through on its way
	// to the caller, nearest the source first.
	Via []transport.ActorID
	// Context holds the words each actor of Via wrapped the error in (as
	// "load config" for fmt.Errorf("load config: %w", err)), Context[i] for
	// Via[i]; "" or a missing entry is none.
	Context []string

	is []string
}

// Error reads like a traceback, one line per hop: where it happened and
// what, each actor it climbed through with the words that actor added, and
// the remote stack.
func (e *RemoteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "actor %s: ", e.Source)
	if e.Type == PanicType {
		fmt.Fprintf(&b, "panic: %s", e.Message)
	} else {
		fmt.Fprintf(&b, "%s (%s)", e.Message, e.Type)
	}
	writeVia(&b, e.Via, e.Context)
	if e.Stack != "" {
		src := e.Source
		src.Host = "" // the headline names it
		fmt.Fprintf(&b, "\n\nremote stack of %s:\n%s", src, strings.TrimRight(e.Stack, "\n"))
	}
	return b.String()
}

// writeVia writes one line per hop of a relay path.
func writeVia(b *strings.Builder, via []transport.ActorID, context []string) {
	for i, hop := range via {
		fmt.Fprintf(b, "\n  via actor %s", hop)
		if i < len(context) && context[i] != "" {
			fmt.Fprintf(b, ": %s", context[i])
		}
	}
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

// wireInfo is the error's wire form as this actor relays it, before it adds
// itself to the path.
func (e *RemoteError) wireInfo() *transport.ErrorInfo {
	return &transport.ErrorInfo{Type: e.Type, Message: e.Message, Stack: e.Stack, Source: e.Source,
		Via: e.Via, Context: e.Context, Is: e.is}
}

// remoteError turns an error from the wire back into a Go error: an
// [*ExitError] for the death of a process further down, the members joined
// (errors.Join, which [nursery.Errors] lists) for a group, and otherwise a
// [*RemoteError].
func remoteError(ei *transport.ErrorInfo) error {
	if len(ei.Group) > 0 {
		members := make([]error, len(ei.Group))
		for i, m := range ei.Group {
			members[i] = remoteError(m)
		}
		return errors.Join(members...)
	}
	if x := ei.Exit; x != nil {
		return &ExitError{Actor: ei.Source, Host: x.Host, Code: x.Code, Signal: syscall.Signal(x.Signal), Stderr: x.Stderr,
			Via: ei.Via, Context: ei.Context}
	}
	return &RemoteError{Source: ei.Source, Type: ei.Type, Message: ei.Message, Stack: ei.Stack,
		Via: ei.Via, Context: ei.Context, is: ei.Is}
}

// relayed is an error that came from further down the tree and keeps its
// structure as it climbs.
type relayed interface {
	error
	wireInfo() *transport.ErrorInfo
}

// errorInfo turns an error raised in this actor into its wire form. A group
// (a nursery's, or errors.Join's, even wrapped) crosses member by member.
// An error from further down the tree ([*RemoteError], [*ExitError]) keeps
// its source and structure, and gains this actor on its relay path with,
// as its context, the words this actor wrapped it in.
func errorInfo(self transport.ActorID, err error, stack string) *transport.ErrorInfo {
	if members, words := groupIn(err); len(members) > 1 {
		ei := &transport.ErrorInfo{Type: fmt.Sprintf("%T", err), Message: err.Error(), Source: self, Is: matchingSentinels(err)}
		for _, m := range members {
			mi := errorInfo(self, m, "")
			leaves := []*transport.ErrorInfo{mi}
			if len(mi.Group) > 0 { // a wrapped group: its members, with its words
				leaves = mi.Group
			}
			for _, leaf := range leaves {
				if len(ei.Group) == transport.MaxErrorGroup {
					return ei
				}
				addWords(self, leaf, words)
				ei.Group = append(ei.Group, leaf)
			}
		}
		return ei
	}
	var r relayed
	if errors.As(err, &r) {
		ei := r.wireInfo()
		ei.Via = append(append([]transport.ActorID(nil), ei.Via...), self)
		ei.Context = append([]string(nil), ei.Context...)
		if err != r {
			ei.Is = matchingSentinels(err) // the wrapper's as well as r's
		}
		addWords(self, ei, wrapperWords(err, r))
		return ei
	}
	var pe *nursery.PanicError
	if errors.As(err, &pe) {
		ei := &transport.ErrorInfo{Type: PanicType, Message: fmt.Sprint(pe.Value), Stack: panicStack(pe.Stack),
			Source: self, Is: matchingSentinels(err)}
		addWords(self, ei, wrapperWords(err, pe))
		return ei
	}
	return &transport.ErrorInfo{
		Type:    fmt.Sprintf("%T", err),
		Message: err.Error(),
		Stack:   stack,
		Source:  self,
		Is:      matchingSentinels(err),
	}
}

// groupIn finds the group err is, or wraps through single Unwraps: its
// leaves, and the words of the wrappers around it.
func groupIn(err error) ([]error, string) {
	for e := err; e != nil; {
		if members := nursery.Errors(e); len(members) > 1 {
			return members, wrapperWords(err, e)
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return nil, ""
}

// addWords records the words self wrapped an error in: as the context of
// its last hop when self relayed it, and otherwise in front of its message.
func addWords(self transport.ActorID, ei *transport.ErrorInfo, words string) {
	if words == "" {
		return
	}
	last := len(ei.Via) - 1
	if last < 0 || ei.Via[last] != self {
		ei.Message = words + ": " + ei.Message
		return
	}
	if len(ei.Context) <= last {
		ei.Context = append(ei.Context, make([]string, last+1-len(ei.Context))...)
	}
	if ei.Context[last] != "" {
		words += ": " + ei.Context[last]
	}
	ei.Context[last] = words
}

// wrapperWords returns what err says beyond inner, the error it wraps: the
// words of a fmt.Errorf("load config: %w", inner), without the colon. It is
// "" when err is inner.
func wrapperWords(err, inner error) string {
	if err == inner {
		return ""
	}
	outer, in := err.Error(), inner.Error()
	i := strings.Index(outer, in)
	if i < 0 { // a wrapper with an Error of its own: its first line
		first, _, _ := strings.Cut(outer, "\n")
		return first
	}
	prefix := strings.TrimRight(outer[:i], ": ")
	suffix := strings.TrimSpace(outer[i+len(in):])
	if strings.Contains(suffix, "\n") {
		suffix = "" // the text of other errors, not words about this one
	}
	if prefix != "" && suffix != "" {
		return prefix + " " + suffix
	}
	return prefix + suffix
}

// An ExitError is the end of an actor's process that nobody asked for:
// every call in flight on it fails with this error, and so does the
// actor's task in its nursery. It keeps its structure as it climbs the
// tree: an actor that returns the death of its own child relays this
// error, with itself added to Via.
type ExitError struct {
	// Actor is the actor whose process ended.
	Actor transport.ActorID
	// Host is the host the process ran on, as its [Placer] named it: "" for
	// a process of this host (or of the host of the actor that relayed it
	// to this one). Actor.Host names the host too when the actor's
	// identity carries one (see [WithHost]); the error's text names it
	// once.
	Host string
	// Code is the exit code, or -1 if a signal ended the process.
	Code int
	// Signal is the signal that ended the process, if any.
	Signal syscall.Signal
	// Stderr is the last 4 KiB the process wrote to its standard error,
	// after the headline of a Go crash report (its first lines, up to
	// 1 KiB) when the tail no longer holds it, and a line "...".
	Stderr string
	// Via is the relay path, as for [RemoteError]: empty when Actor is a
	// child of this process, otherwise the actors the error climbed
	// through, nearest Actor first.
	Via []transport.ActorID
	// Context holds the words each actor of Via wrapped the error in,
	// Context[i] for Via[i].
	Context []string
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "actor %s: %s", onHost(e.Actor, e.Host), e.status())
	writeVia(&b, e.Via, e.Context)
	if tail := strings.TrimRight(e.Stderr, "\n"); tail != "" {
		fmt.Fprintf(&b, "\nlast lines of its stderr:\n%s", tail)
	}
	return b.String()
}

// status says how the process ended.
func (e *ExitError) status() string {
	if e.Signal != 0 {
		return fmt.Sprintf("process killed by signal %s (%d)", signalName(e.Signal), int(e.Signal))
	}
	return fmt.Sprintf("process exited with code %d", e.Code)
}

// onHost is id with host as its host, when host is not "": an actor's
// identity and its Placer name the same host, and its String names it.
func onHost(id transport.ActorID, host string) transport.ActorID {
	if host != "" {
		id.Host = host
	}
	return id
}

// wireInfo is the error's wire form; the host crosses in the exit map.
func (e *ExitError) wireInfo() *transport.ErrorInfo {
	msg := e.status()
	if h := onHost(e.Actor, e.Host).Host; h != "" {
		msg += " on host " + h // for a peer that reads only the message
	}
	return &transport.ErrorInfo{Type: fmt.Sprintf("%T", e), Message: msg, Source: e.Actor,
		Via: e.Via, Context: e.Context,
		Exit: &transport.ExitInfo{Code: e.Code, Signal: int(e.Signal), Stderr: e.Stderr, Host: e.Host}}
}
