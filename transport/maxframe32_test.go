//go:build unix

package transport_test

import (
	"context"
	"math"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// A peer may announce any max_frame up to 2³²−1. On a 32-bit platform
// (GOARCH=386, arm) the limit used to be converted to a negative int, so
// every frame looked too large and every send was refused.
func TestPeerMaxFrameAboveInt32(t *testing.T) {
	t.Parallel()
	c, _, err := rawPair(t, func(raw net.Conn) {
		h := rawHello(transport.Version)
		h.Hello.MaxFrame = math.MaxUint32
		handshakeRawHello(t, raw, h)
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.Call(ctx, "f", []byte("hello"))
	require.NoError(t, err, "a Call within any announced limit is sent")
	require.NoError(t, s.Close())
}
