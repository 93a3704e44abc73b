package actor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// An actor started as on host b (as a host agent starts one) names b in
// its errors, and so does its child, which inherits the host: the source
// and every hop of the relay path.
func TestRemoteErrorNamesTheHosts(t *testing.T) {
	err := relayFrom(t, relayReq{Fn: "panic", Depth: 1}, actor.WithHost("b"))
	var re *actor.RemoteError
	require.ErrorAs(t, err, &re, "%v", err)
	require.True(t, re.Panicked())
	require.Equal(t, "level1", re.Source.Name)
	require.Equal(t, "b", re.Source.Host, "the source's host, inherited from its parent")
	require.Len(t, re.Via, 1, "%v", err)
	require.Equal(t, "level2", re.Via[0].Name)
	require.Equal(t, "b", re.Via[0].Host, "the relay's host")
	text := err.Error()
	require.Contains(t, text, "actor level1[")
	require.Equal(t, 2, strings.Count(text, " on host b"), "once per actor:\n%s", text)
}

// The death of an actor with a host names it once, as its parent reports
// it and as it is relayed.
func TestExitErrorNamesTheHostOnce(t *testing.T) {
	proctest.NeedsProcesses(t, "an exit code")
	t.Run("relayed", func(t *testing.T) {
		err := relayFrom(t, relayReq{Fn: "exit", Depth: 1}, actor.WithHost("b"))
		var ee *actor.ExitError
		require.ErrorAs(t, err, &ee, "%v", err)
		require.Equal(t, "level1", ee.Actor.Name)
		require.Equal(t, "b", ee.Actor.Host)
		require.Len(t, ee.Via, 1, "%v", err)
		require.Equal(t, "b", ee.Via[0].Host)
		first, _, _ := strings.Cut(ee.Error(), "\n")
		require.Contains(t, first, " on host b: process exited with code 3", "%v", err)
		require.Equal(t, 1, strings.Count(first, " on host b"), "once:\n%s", first)
	})
	t.Run("child", func(t *testing.T) {
		proctest.NoChildrenLeft(t)
		var callErr error
		_ = nursery.Run(context.Background(), func(ctx context.Context, n *nursery.Nursery) error {
			ref, err := actor.Spawn(ctx, n, "top", actor.WithHost("b"))
			if err != nil {
				return err
			}
			require.Contains(t, ref.String(), " on host b")
			require.Equal(t, "", ref.Host(), "WithHost names the actor's host, not a placement")
			_, callErr = exit.Call(ctx, ref, 3)
			return nil
		})
		var ee *actor.ExitError
		require.ErrorAs(t, callErr, &ee, "%v", callErr)
		require.Equal(t, "b", ee.Actor.Host)
		first, _, _ := strings.Cut(ee.Error(), "\n")
		require.Equal(t, 1, strings.Count(first, " on host b"), "once:\n%s", first)
	})
}

// An error's text names an actor's host once, whether the host came with
// the actor's identity, from its Placer, or both.
func TestErrorTextNamesTheHostOnce(t *testing.T) {
	t.Parallel()
	plain := transport.ActorID{Name: "w", ID: "1", PID: 7}
	onB := transport.ActorID{Name: "w", ID: "1", PID: 7, Host: "b"}
	cases := []struct {
		name string
		err  error
	}{
		{"exit, identity", &actor.ExitError{Actor: onB, Code: 3}},
		{"exit, placer", &actor.ExitError{Actor: plain, Host: "b", Code: 3}},
		{"exit, both", &actor.ExitError{Actor: onB, Host: "b", Code: 3}},
		{"exit, relayed", &actor.ExitError{Actor: onB, Host: "b", Code: 3, Via: []transport.ActorID{onB}}},
		{"host lost, identity", &actor.HostLostError{Actor: onB, Reason: "silent"}},
		{"host lost, placer", &actor.HostLostError{Actor: plain, Host: "b", Reason: "silent"}},
		{"host lost, both", &actor.HostLostError{Actor: onB, Host: "b", Reason: "silent"}},
		{"remote", &actor.RemoteError{Source: onB, Type: "panic", Message: "boom"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := tc.err.Error()
			want := 1
			if strings.Contains(tc.name, "relayed") {
				want = 2 // the source and the relay
			}
			require.Equal(t, want, strings.Count(text, " on host b"), text)
			require.Contains(t, text, "w[1]@7 on host b")
		})
	}
}
