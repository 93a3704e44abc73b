package actor

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

// These tests play a hostile child: one that calls the registrar's
// functions on its parent with what Register, Close and an actor's end
// never send. They need the registry's internals, which no public call
// reaches.

var (
	hostileUnregister = Func("test.hostile.unregister", func(ctx context.Context, rev uint64) (bool, error) {
		return true, serverFor(ctx).names().unregister(ctx, nil, rev)
	})
	hostileDrop = Func("test.hostile.drop", func(ctx context.Context, path []string) (bool, error) {
		return true, serverFor(ctx).names().drop(ctx, path, nil)
	})
	hostileRegister = Func("test.hostile.register", func(ctx context.Context, e nameEntry) (uint64, error) {
		sv := serverFor(ctx)
		e.Actor = sv.id
		if n := len(e.Path); n > 0 {
			e.Path[n-1] = sv.id.ID
		}
		got, err := sv.names().register(ctx, e)
		return got.Rev, err
	})
	politeRegister = Func("test.hostile.politeRegister", func(ctx context.Context, name string) (uint64, error) {
		reg, err := Register(ctx, name)
		if err != nil {
			return 0, err
		}
		return reg.Revision(), nil
	})
)

// hostileTree spawns a victim and a hostile sibling under this process.
func hostileTree(t *testing.T, body func(ctx context.Context, victim, hostile *Ref)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		defer n.Cancel(nil)
		victim, err := Spawn(ctx, n, "victim")
		if err != nil {
			return err
		}
		hostile, err := Spawn(ctx, n, "hostile")
		if err != nil {
			return err
		}
		body(ctx, victim, hostile)
		return nil
	})
	require.NoError(t, err)
}

// A child can remove only the registrations of its own subtree: its
// parent puts its id on the path of an unregister, as on a registration's.
func TestHostileChildCannotUnregisterASibling(t *testing.T) {
	name := "hostile-unreg-" + newID()
	hostileTree(t, func(ctx context.Context, victim, hostile *Ref) {
		rev, err := politeRegister.Call(ctx, victim, name)
		require.NoError(t, err)
		_, err = hostileUnregister.Call(ctx, hostile, rev)
		require.NoError(t, err, "refused silently, as any unregister of nothing")
		got, err := rootRegistrar().lookup(ctx, name)
		require.NoError(t, err)
		require.Len(t, got, 1, "the victim's registration lives")
	})
}

// A forged drop of a sibling's path drops the forger's own subtree at
// most (its parent prefixes the path): the sibling registers on; and the
// finders' answers carry no path, nor the exposed functions.
func TestHostileChildCannotLockASiblingOut(t *testing.T) {
	name := "hostile-drop-" + newID()
	hostileTree(t, func(ctx context.Context, victim, hostile *Ref) {
		_, err := hostileDrop.Call(ctx, hostile, []string{victim.ID()})
		require.NoError(t, err)
		_, err = politeRegister.Call(ctx, victim, name)
		require.NoError(t, err, "the victim was locked out by its sibling's forged drop")
		got, err := rootRegistrar().lookup(ctx, name)
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Empty(t, got[0].Path, "finders see no path")
		require.Empty(t, got[0].Expose, "finders see no exposed functions")
	})
}

// What Register would never send is refused by the parent and the
// registrar alike.
func TestHostileChildRegistrationsAreChecked(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	deep := make([]string, maxDepth+1)
	for i := range deep {
		deep[i] = newID()
	}
	hostileTree(t, func(ctx context.Context, _, hostile *Ref) {
		for _, tc := range []struct {
			what string
			e    nameEntry
		}{
			{"an empty name", nameEntry{}},
			{"a 100 kB name", nameEntry{Name: long}},
			{"a reserved function exposed", nameEntry{Name: "h", Expose: []string{"grove.stop"}}},
			{"too many functions exposed", nameEntry{Name: "h", Expose: make([]string, maxExpose+1)}},
			{"a 100 kB function exposed", nameEntry{Name: "h", Expose: []string{long}}},
			{"a 100 kB address", nameEntry{Name: "h", Addr: long}},
			{"a path too deep", nameEntry{Name: "h", Path: deep}},
		} {
			_, err := hostileRegister.Call(ctx, hostile, tc.e)
			require.Error(t, err, tc.what)
		}
	})
}

// The registrar holds at most maxPerActor live registrations of an actor.
func TestRegistrarCapsRegistrationsPerActor(t *testing.T) {
	ctx := context.Background()
	r := newRegistrar()
	a := transport.ActorID{ID: "a"}
	for i := range maxPerActor {
		_, err := r.register(ctx, nameEntry{Name: "n" + string(rune('a'+i%26)) + newID(), Actor: a, Path: []string{"a"}})
		require.NoError(t, err)
	}
	_, err := r.register(ctx, nameEntry{Name: "one-more", Actor: a, Path: []string{"a"}})
	require.ErrorContains(t, err, "the limit: Close those it no longer needs")
	_, err = r.register(ctx, nameEntry{Name: "one-more", Actor: transport.ActorID{ID: "b"}, Path: []string{"b"}})
	require.NoError(t, err, "another actor registers on")
}

// The dropped paths are bounded in count.
func TestRegistrarBoundsDroppedPaths(t *testing.T) {
	ctx := context.Background()
	r := newRegistrar()
	for range maxDropped + 10 {
		require.NoError(t, r.drop(ctx, []string{newID(), newID()}, nil))
	}
	require.LessOrEqual(t, len(r.dropped), maxDropped)
	require.Len(t, r.droppedOrder, len(r.dropped))
	require.LessOrEqual(t, r.droppedBytes, maxDroppedBytes)
}

// A dial that fails for another reason than a socket nobody listens on
// says nothing of the registrant: Find returns that failure, not
// ErrNotFound (and Wait does not wait for a live registrant to go).
func TestFindReturnsDialFailuresThatAreNotAGoneSocket(t *testing.T) {
	if !unixSockets {
		t.Skip("no Unix sockets here")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", addr)
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan struct{})
	go func() { // a listener that hangs up on every handshake
		defer close(served)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	name := "dial-fails-" + newID()
	e, err := rootRegistrar().register(ctx, nameEntry{Name: name, Actor: transport.ActorID{Name: "far", ID: newID(), PID: 1}, Addr: addr})
	require.NoError(t, err)
	defer rootRegistrar().unregister(ctx, nil, e.Rev)

	_, err = Find(ctx, name)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound, "a handshake that failed is no gone registrant: %v", err)
	_, err = Wait(ctx, name)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNotFound)
	require.NoError(t, ctx.Err(), "Wait waited for a live registrant to go")
	ln.Close()
	<-served
}

// A registry whose gone fails: Wait returns that failure, not a wrap of a
// nil cause (its ctx lives).
type goneFails struct {
	noRegistry
	e   nameEntry
	err error
}

func (g goneFails) wait(context.Context, string) ([]nameEntry, error) { return []nameEntry{g.e}, nil }
func (g goneFails) gone(context.Context, uint64) (*transport.ErrorInfo, error) {
	return nil, g.err
}

func TestWaitWrapsTheRegistrysError(t *testing.T) {
	boom := errors.New("boom")
	// A registrant of this process whose host is gone: it has gone.
	e := nameEntry{Name: "w", Actor: transport.ActorID{ID: newID(), PID: os.Getpid()}, Rev: 1}
	_, err := waitFor(context.Background(), goneFails{e: e, err: boom}, "w")
	require.ErrorIs(t, err, boom)
	require.NotContains(t, err.Error(), "%!w")
}

// The fetch of the tree's secret is shared, and each waiter is bounded by
// its own ctx.
type secretBlocks struct {
	noRegistry
	started chan struct{} // gets a value at each fetch
	release chan struct{}
}

func (s secretBlocks) secret(ctx context.Context) ([]byte, error) {
	s.started <- struct{}{}
	select {
	case <-s.release:
		return []byte("key"), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func TestTreeSecretWaitersHonourTheirCtx(t *testing.T) {
	var c secretCache
	reg := secretBlocks{started: make(chan struct{}, 2), release: make(chan struct{})}
	first := make(chan error, 1)
	go func() {
		_, err := c.get(context.Background(), reg)
		first <- err
	}()
	<-reg.started // the first fetch is under way
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.get(ctx, reg)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second, "the waiter waited past its ctx")
	close(reg.release)
	require.NoError(t, <-first)
	require.Empty(t, reg.started, "one fetch only")
	key, err := c.get(context.Background(), reg)
	require.NoError(t, err)
	require.Equal(t, []byte("key"), key)
}
