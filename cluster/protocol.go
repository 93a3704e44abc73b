package cluster

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/cluster/internal/subject"
)

// The request/reply messages between callers and host agents (scaleout
// design §4.3, §5.3): JSON bodies on grove.C.host.H.spawn, .ctl and .ping,
// and the membership events on grove.C.ev.*. They are small and rare (one
// per spawn or signal), so JSON's readability wins over msgpack's speed;
// the actor's bytes never travel in them (they take the link, natslink).

// spawnRequest asks the agent of a host to start an actor whose link is
// the natslink on Link's subjects.
type spawnRequest struct {
	Name    string   `json:"name"`
	ID      string   `json:"id"`
	Parent  string   `json:"parent,omitempty"`
	Build   string   `json:"build"`
	Exe     string   `json:"exe,omitempty"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	EnvOnly bool     `json:"env_only,omitempty"`
	Dir     string   `json:"dir,omitempty"`
	// Caller is the caller's user (U in the link's subjects), Link the
	// link's ID (L).
	Caller string `json:"caller"`
	Link   string `json:"link"`
	// Dead is the caller's T, which the link uses on both sides.
	Dead time.Duration `json:"dead"`
	// Grace and KillDelay are the actor's ladder, which the agent runs
	// when it stops.
	Grace     time.Duration `json:"grace,omitempty"`
	KillDelay time.Duration `json:"kill_delay,omitempty"`
}

// spawnReply answers a spawnRequest: the actor's pid and the agent's
// incarnation, or why not.
type spawnReply struct {
	PID         int    `json:"pid,omitempty"`
	Incarnation string `json:"incarnation,omitempty"`
	// OrphanGrace is the agent's: how long after its parent's link ends
	// the actor may live.
	OrphanGrace time.Duration `json:"orphan_grace,omitempty"`
	Err         *replyError   `json:"err,omitempty"`
}

// ctlRequest asks an agent to signal the actor it runs on link Link.
type ctlRequest struct {
	Caller string `json:"caller"`
	Link   string `json:"link"`
	Signal int    `json:"signal"`
}

// ctlReply answers a ctlRequest.
type ctlReply struct {
	Err *replyError `json:"err,omitempty"`
}

// hostRecord is what an agent says of itself: in its announcement
// (ev.hostup.H), in its answer to a survey and to a ping.
type hostRecord struct {
	Host        string            `json:"host"`
	Incarnation string            `json:"incarnation"`
	Labels      map[string]string `json:"labels,omitempty"`
	Build       string            `json:"build"`
	Actors      int               `json:"actors"`
	OrphanGrace time.Duration     `json:"orphan_grace"`
}

// hostDown is the event ev.hostdown.H: the agent of H is gone.
type hostDown struct {
	Host        string `json:"host"`
	Incarnation string `json:"incarnation,omitempty"`
	Reason      string `json:"reason"`
}

// A replyError is an agent's refusal, with the kind of sentinel it
// matches on the caller's side.
type replyError struct {
	Kind    string `json:"kind"` // one of the kind* constants
	Message string `json:"message"`
}

const (
	kindBuild    = "build"
	kindCapacity = "capacity"
	kindAuth     = "auth"
	kindGone     = "gone" // no such actor (ctl), or the agent is stopping
	kindBad      = "bad"  // a malformed request
	kindStart    = "start"
)

func refuse(kind, format string, args ...any) *replyError {
	return &replyError{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// err turns a refusal into the caller's error, matching the sentinel of
// its kind.
func (e *replyError) err(host string) error {
	if e == nil {
		return nil
	}
	var sentinel error
	switch e.Kind {
	case kindBuild:
		sentinel = actor.ErrBuildMismatch
	case kindCapacity:
		sentinel = actor.ErrNoCapacity
	case kindAuth:
		sentinel = actor.ErrNotAuthorized
	case kindGone:
		sentinel = actor.ErrHostUnavailable
	default:
		return fmt.Errorf("cluster: host %s: %s", host, e.Message)
	}
	return fmt.Errorf("cluster: host %s: %s: %w", host, e.Message, sentinel)
}

// The subjects of membership (besides subject.Host's requests).
func evHostUp(c, h string) string   { return subject.Event(c, "hostup", h) }
func evHostDown(c, h string) string { return subject.Event(c, "hostdown", h) }
func evSurvey(c string) string      { return subject.Survey(c) }

// newLinkID returns a link ID: 128 random bits, base32 without padding (26
// characters of [a-z2-7]), a capability (scaleout design §4.3).
func newLinkID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail (Go 1.24)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// decode unmarshals a request or reply body, with an error naming what.
func decode(what string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("cluster: a malformed %s (%d bytes): %w", what, len(data), err)
	}
	return nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(errors.New("cluster: encode " + fmt.Sprintf("%T", v) + ": " + err.Error())) // only plain structs are encoded
	}
	return b
}
