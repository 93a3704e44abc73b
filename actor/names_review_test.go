package actor_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/internal/proctest"
	"github.com/grove-rt/grove/nursery"
)

var (
	// nmClosed are what nmCloseSelf's Close returned, by name.
	nmClosed sync.Map // name -> chan error

	// nmCloseSelf closes the registration name (in nmRegs under "root/")
	// from inside a peer's call through it.
	nmCloseSelf = actor.Func("test.names.closeSelf", func(ctx context.Context, name string) (int, error) {
		v, _ := nmRegs.Load("root/" + name)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err := v.(*actor.Registration).Close(cctx)
		c, _ := nmClosed.Load(name)
		c.(chan error) <- err
		return 0, err
	})

	// nmRegisterHeadstrong registers the actor it runs in under name,
	// exposing headstrong (which ignores its ctx).
	nmRegisterHeadstrong = actor.Func("test.names.registerHeadstrong", func(ctx context.Context, name string) (uint64, error) {
		reg, err := actor.Register(ctx, name, actor.Expose(headstrong))
		if err != nil {
			return 0, err
		}
		return reg.Revision(), nil
	})

	// nmChildRegisters spawns a child that registers name, and holds it
	// until cancelled: its answer comes after the child's task has ended.
	nmChildRegisters = actor.Func("test.names.childRegisters", func(ctx context.Context, name string) (int, error) {
		return 0, nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
			c, err := actor.Spawn(ctx, n, "registrant", actor.WithBackend(actor.BackendGoroutine))
			if err != nil {
				return err
			}
			if _, err := nmRegisterHere.Call(ctx, c, name); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		})
	})

	// nmRegisterKept registers the actor it runs in under name, and keeps
	// the Registration in nmRegs (for the goroutine backend).
	nmRegisterKept = actor.Func("test.names.registerKept", func(ctx context.Context, name string) (uint64, error) {
		reg, err := actor.Register(ctx, name)
		if err != nil {
			return 0, err
		}
		nmRegs.Store("kept/"+name, reg)
		return reg.Revision(), nil
	})
)

// Registration.Close from inside a peer's call through it returns (it
// cuts the caller's own connection, without waiting for the call).
func TestNamesCloseInsideAPeersCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := nmPrefix() + "-close-self"
	closed := make(chan error, 1)
	nmClosed.Store(name, closed)
	defer nmClosed.Delete(name)
	reg, err := actor.Register(ctx, name, actor.Expose(nmCloseSelf))
	require.NoError(t, err)
	nmRegs.Store("root/"+name, reg)
	defer nmRegs.Delete("root/" + name)
	ref, err := actor.Find(ctx, name)
	require.NoError(t, err)
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	called := make(chan error, 1)
	go func() {
		_, err := nmCloseSelf.Call(cctx, ref, name)
		called <- err
	}()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("Registration.Close inside a peer's call through it never returned")
	}
	<-called // whatever it says: its connection was cut under it
	_, err = actor.Find(ctx, name)
	require.ErrorIs(t, err, actor.ErrNotFound)
}

// A peer's call that ignores its ctx does not keep an actor process from
// exiting on SIGTERM (the stop's ladder here): the actor exits within
// orphanExit, long before the kill delay.
func TestNamesStuckPeerCallDoesNotHoldTheExit(t *testing.T) {
	proctest.NeedsProcesses(t, "an actor process's exit")
	proctest.NoChildrenLeft(t)
	name := nmPrefix() + "-stuck"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stopped time.Time
	err := nursery.Run(ctx, func(ctx context.Context, n *nursery.Nursery) error {
		a, err := actor.Spawn(ctx, n, "stuck", actor.WithGrace(100*time.Millisecond), actor.WithKillDelay(30*time.Second))
		if err != nil {
			return err
		}
		if _, err := nmRegisterHeadstrong.Call(ctx, a, name); err != nil {
			return err
		}
		ref, err := actor.Find(ctx, name)
		if err != nil {
			return err
		}
		sctx, scancel := context.WithCancel(ctx)
		defer scancel()
		s, err := headstrong.Open(sctx, ref, false)
		if err != nil {
			return err
		}
		<-s.C // it runs, and ignores its ctx from now on
		stopped = time.Now()
		a.Cancel()
		return nil
	})
	require.NoError(t, err)
	require.Less(t, time.Since(stopped), 10*time.Second, "the actor waited for the peer's call, until its SIGKILL")
}

// A goroutine actor whose parent is stopping can still reach the
// registrar through its live link: a dead child's name never survives its
// parent's nursery.
func TestNamesDropThroughAStoppingParent(t *testing.T) {
	for i := range 10 {
		name := nmPrefix() + "-stopping-parent"
		inNursery(t, 20*time.Second, func(ctx context.Context, n *nursery.Nursery) {
			p, err := actor.Spawn(ctx, n, "parent", actor.WithBackend(actor.BackendGoroutine), actor.WithGrace(5*time.Second))
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				_, err := nmChildRegisters.Call(ctx, p, name)
				done <- err
			}()
			_, err = actor.Wait(ctx, name)
			require.NoError(t, err)
			p.Cancel()
			<-done // after the child's task ended, and dropped its names
			require.False(t, actor.RegistrarHolds(name), "run %d: the dead child's name outlived it", i)
		})
	}
}

// Registration.Close after its actor has ended returns nil, as
// documented (goroutine backend: the Registration outlives the actor).
func TestNamesCloseAfterTheActorEnded(t *testing.T) {
	name := nmPrefix() + "-close-after"
	inNursery(t, 20*time.Second, func(ctx context.Context, n *nursery.Nursery) {
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		err := nursery.Run(ctx2, func(ctx context.Context, n *nursery.Nursery) error {
			a, err := actor.Spawn(ctx, n, "ends", actor.WithBackend(actor.BackendGoroutine))
			if err != nil {
				return err
			}
			if _, err := nmRegisterKept.Call(ctx, a, name); err != nil {
				return err
			}
			a.Cancel()
			return nil
		})
		require.NoError(t, err)
		v, ok := nmRegs.LoadAndDelete("kept/" + name)
		require.True(t, ok)
		require.NoError(t, v.(*actor.Registration).Close(ctx))
	})
}
