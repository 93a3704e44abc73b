//go:build unix

package actor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A socket file's path fits macOS's 104-byte sun_path under its usual
// temporary directory (/var/folders/xx/<28 characters>/T/).
func TestPeerFileFitsSunPath(t *testing.T) {
	p := peerFile("/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/")
	require.LessOrEqual(t, len(p), 90, "%s: %d bytes leave little room for a longer TMPDIR (the limit is 103)", p, len(p))
}
