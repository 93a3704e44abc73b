package actor

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/nursery"
	"github.com/grove-rt/grove/transport"
)

var (
	peerOne = Func("test.peer.one", func(ctx context.Context, n int) (int, error) { return 1, nil })
	peerTwo = Func("test.peer.two", func(ctx context.Context, n int) (int, error) { return 2, nil })

	// peerGates are the channels peerHold waits on, by name: it reports
	// that it runs, then holds, ignoring its ctx, until the gate closes.
	peerGates sync.Map // name -> [2]chan struct{}{running, release}
	peerHold  = Func("test.peer.hold", func(ctx context.Context, name string) (int, error) {
		v, _ := peerGates.Load(name)
		g := v.([2]chan struct{})
		g[0] <- struct{}{}
		<-g[1]
		return 0, nil
	})
	peerRegister = Func("test.peer.register", func(ctx context.Context, name string) (uint64, error) {
		reg, err := Register(ctx, name, Expose(peerOne, peerHold))
		if err != nil {
			return 0, err
		}
		return reg.Revision(), nil
	})
)

// A finder of revision R1 of a name is never admitted under R2, the
// registration of the same name that its actor made after closing R1.
func TestPeerOfAnOldRevisionIsNotAdmitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := "rev-role-" + newID()
	r1, err := Register(ctx, name, Expose(peerOne))
	require.NoError(t, err)
	found, err := rootRegistrar().lookup(ctx, name)
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.NoError(t, r1.Close(ctx))
	r2, err := Register(ctx, name, Expose(peerTwo))
	require.NoError(t, err)
	defer r2.Close(ctx)

	ref, err := dialPeer(ctx, rootRegistrar(), found[0])
	if err == nil {
		_, err = peerTwo.Call(ctx, ref, 0)
	}
	require.ErrorIs(t, err, ErrNotFound, "the finder of R1 was admitted under R2's Expose list")
}

// When the actor that found a peer ends, the calls its links carried
// fail with its own end, at once: not as the peer's death, after a wait.
func TestPeerCallCutByTheFindersEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := "cut-by-owner-" + newID()
	gate := [2]chan struct{}{make(chan struct{}, 1), make(chan struct{})}
	peerGates.Store(name, gate)
	defer peerGates.Delete(name)
	reg, err := Register(ctx, name, Expose(peerHold))
	require.NoError(t, err)
	defer reg.Close(ctx)

	owner := newServer(context.Background(), transport.ActorID{Name: "owner", ID: newID(), PID: os.Getpid()})
	owner.top = true // its registry is the root's registrar
	ref, err := Find(owner.root, name)
	require.NoError(t, err)
	called := make(chan error, 1)
	go func() {
		_, err := peerHold.Call(ctx, ref, name)
		called <- err
	}()
	select {
	case <-gate[0]:
	case err := <-called:
		t.Fatalf("the call ended before it ran: %v", err)
	}
	ownerEnd := errors.New("the owner's end")
	start := time.Now()
	owner.links.close(owner.id, ownerEnd)
	err = <-called
	close(gate[1])
	require.ErrorIs(t, err, ownerEnd)
	var gone *ActorGoneError
	require.False(t, errors.As(err, &gone), "the finder's own end was reported as the peer's: %v", err)
	require.Less(t, time.Since(start), 500*time.Millisecond)
}

// A peer that is stopping (its calls refused, its connection alive while
// a call finishes) fails each new call at once as gone: no call waits for
// its connection to end.
func TestPeerStoppingFailsCallsAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "stopping-" + newID()
	gate := [2]chan struct{}{make(chan struct{}, 1), make(chan struct{})}
	peerGates.Store(name, gate)
	defer peerGates.Delete(name)
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		a, err := Spawn(ctx, n, "stopping", WithBackend(BackendGoroutine), WithGrace(20*time.Second))
		if err != nil {
			return err
		}
		if _, err := peerRegister.Call(ctx, a, name); err != nil {
			return err
		}
		ref, err := Find(ctx, name)
		if err != nil {
			return err
		}
		held := make(chan error, 1)
		go func() {
			_, err := peerHold.Call(ctx, ref, name) // keeps the peer's connection, and its stop, alive
			held <- err
		}()
		<-gate[0]
		a.Cancel()
		for i := 0; ; i++ {
			require.Less(t, i, 10_000, "the stopping peer never refused a call")
			start := time.Now()
			_, err := peerOne.Call(ctx, ref, 0)
			if err == nil {
				continue
			}
			require.ErrorIs(t, err, ErrNotFound)
			require.Less(t, time.Since(start), time.Second, "the call waited for the stopping peer's connection to end")
			break
		}
		close(gate[1])
		<-held
		return nil
	})
	require.NoError(t, err)
}

// A host that has ended takes no registration, and is not found by the
// peers of this process.
func TestPeerHostRefusesOnceClosed(t *testing.T) {
	sv := newServer(context.Background(), transport.ActorID{Name: "h", ID: newID(), PID: os.Getpid()})
	sv.host.close()
	_, err := sv.host.add("x", nil)
	require.Error(t, err)
	_, err = sv.host.listen(context.Background(), rootRegistrar())
	require.Error(t, err)
	_, ok := hostsInProcess.Load(sv.id.ID)
	require.False(t, ok, "a closed host was stored for this process's peers")
}
