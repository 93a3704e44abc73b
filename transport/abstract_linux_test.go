package transport_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

// TestUnixAbstract: on Linux a path that begins with '@' names a socket
// in the abstract namespace: it serves with a secret, creates nothing on
// disk (no directory under the working directory), a second listener on
// the same name fails with an error that says so, and the name is free
// again once its listener closes.
func TestUnixAbstract(t *testing.T) {
	t.Parallel()
	top := "@grove-test-" + rand.Text()
	cases := []string{top, top + "/actor/sock"} // the second as package actor names its peers' sockets
	for _, name := range cases {
		l, err := transport.ListenUnix(name, transport.WithSecret(secret))
		require.NoError(t, err)
		require.Equal(t, name, l.Addr().String())
		_, err = os.Lstat(strings.SplitN(name, "/", 2)[0])
		require.ErrorIs(t, err, os.ErrNotExist, "nothing on disk")

		_, err = transport.ListenUnix(name, transport.WithSecret(secret))
		require.ErrorContains(t, err, "a listener is already serving on the abstract socket "+name)

		serveListener(t, l)
		c, err := transport.DialUnix(context.Background(), name, transport.WithSecret(secret))
		require.NoError(t, err)
		callEcho(t, c)
		c.Close()

		require.NoError(t, l.Close())
		l, err = transport.ListenUnix(name, transport.WithSecret(secret))
		require.NoError(t, err, "the name is free again")
		require.NoError(t, l.Close())
		_, err = os.Lstat(strings.SplitN(name, "/", 2)[0])
		require.ErrorIs(t, err, os.ErrNotExist, "nothing left behind")
	}
}
