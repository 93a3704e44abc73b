package actor

import (
	"testing"

	"github.com/grove-rt/grove/transport"
)

// BenchmarkServerEnterLeave is what a served call pays for Tree's counts:
// entering and leaving the server, its calls in flight counted by function.
func BenchmarkServerEnterLeave(b *testing.B) {
	sv := newServer(b.Context(), transport.ActorID{Name: "bench"})
	b.ReportAllocs()
	for range b.N {
		if !sv.enter("actor_test.square") {
			b.Fatal("refused")
		}
		sv.leave("actor_test.square")
	}
}
