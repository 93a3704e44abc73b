package actor

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// A call can run on an actor before its server has recorded the link the
// call came on (the goroutine backend serves as soon as the Conn exists):
// Tree in that call still names the parent, once the link is recorded,
// rather than answering "" at once (it did, and TestTreeThreeLevels failed
// once on the goroutine backend under CI's load).
func TestTreeWaitsForTheLinkToNameTheParent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kid := transport.ActorID{Name: "kid", ID: "kid-1", PID: 1}
	sv := newServer(context.Background(), kid)
	defer sv.cancel(nil)

	got := make(chan TreeInfo, 1)
	go func() {
		info, err := Tree(sv.root) // a call's ctx on that server
		if err != nil {
			info.Err = err.Error()
		}
		got <- info
	}()
	select {
	case info := <-got:
		require.Failf(t, "Tree answered before the link was recorded", "%+v", info)
	case <-time.After(50 * time.Millisecond): // it waits, as it must
	}

	parentEnd, childEnd := net.Pipe()
	parent := transport.ActorID{Name: "parent", ID: "parent-1", PID: 2}
	conns := make(chan *transport.Conn, 1)
	go func() {
		c, err := transport.NewConn(ctx, parentEnd, transport.Initiator, transport.WithIdentity(parent, "parent"))
		if err != nil {
			parentEnd.Close()
		}
		conns <- c
	}()
	c, err := transport.NewConn(ctx, childEnd, transport.Responder, transport.WithIdentity(kid, "child"))
	require.NoError(t, err)
	defer c.Close()
	pc := <-conns
	require.NotNil(t, pc)
	defer pc.Close()
	sv.setLink(c)

	select {
	case info := <-got:
		require.Empty(t, info.Err)
		require.Equal(t, "parent-1", info.Parent)
	case <-ctx.Done():
		require.Fail(t, "Tree did not answer once the link was recorded")
	}
}
