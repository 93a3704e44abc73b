// Package subject names the NATS subjects of a grove cluster (scaleout
// design §4.3), in one place for the embedded servers' permissions, the
// client's inbox and, later, the agent and the bearer.
//
// Cluster names, host IDs and user names are tokens of [a-z0-9-]: they never
// hold a '.', '*' or '>', so a subject built from them has exactly the
// tokens its pattern says and a permission written with wildcards matches
// only what it means to.
package subject

import (
	"fmt"
	"strings"
)

// Default is the cluster name when none is given.
const Default = "grove"

// MaxName is the longest cluster name or host ID; MaxUser the longest user
// name, which leaves room for an agent's ("agent-" and a host ID).
const (
	MaxName = 63
	MaxUser = MaxName + len("agent-")
)

// Check returns an error, naming what (e.g. "Config.User") and the rule,
// unless s is a token: 1 to max characters of [a-z0-9-].
func Check(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s %q must be 1 to %d characters of [a-z0-9-]", what, s, max)
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("%s %q must be 1 to %d characters of [a-z0-9-]; it holds %q", what, s, max, r)
		}
	}
	return nil
}

// Agent is the user name of the agent of host h.
func Agent(h string) string { return "agent-" + h }

// Host is the subject of request kind op (spawn, ctl, ping, peer) to the
// agent of host h; h may be the wildcard "*" in a permission.
func Host(c, h, op string) string { return join("grove", c, "host", h, op) }

// HostAll matches every request subject to the agent of host h.
func HostAll(c, h string) string { return join("grove", c, "host", h, ">") }

// Link is the subject of direction dir ("up": caller to agent, "dn":
// agent to caller) of link l between caller u and the agent of host h;
// any of h, u, l may be "*" in a permission.
func Link(c, h, u, l, dir string) string { return join("grove", c, "link", h, u, l, dir) }

// Event is the subject of membership event kind (hostup, hostdown) of
// host h; h may be "*" in a permission.
func Event(c, kind, h string) string { return join("grove", c, "ev", kind, h) }

// Events matches the membership events of cluster c.
func Events(c string) string { return join("grove", c, "ev", ">") }

// InboxPrefix is user u's private inbox prefix (nats.CustomInboxPrefix): the
// replies to u's requests arrive under it, and only u may subscribe there.
func InboxPrefix(u string) string { return "_INBOX_" + u }

// Inboxes matches every inbox of user u.
func Inboxes(u string) string { return InboxPrefix(u) + ".>" }

func join(tokens ...string) string { return strings.Join(tokens, ".") }

// Survey is the subject on which a caller asks every agent of cluster c
// for its host record (each answers to the request's inbox): how a newly
// joined client learns the hosts without waiting for their announcements.
func Survey(c string) string { return join("grove", c, "ev", "survey") }
