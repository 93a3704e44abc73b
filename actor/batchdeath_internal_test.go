package actor

import (
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// deadWithPage is a Ref whose process died leaving page pg.
func deadWithPage(pg progressReport) *Ref {
	done := make(chan struct{})
	close(done)
	pg.valid = true
	return &Ref{run: &Process{done: done, progress: pg}}
}

// A batch ahead ran all its items, then the one behind it ran all its
// own, and both Returns were still in the actor's stalled writer when it
// was killed: the page's batch word names neither any more. The batch
// ahead's items ran, so their results are lost, never failed by the death
// (issue 9: a crash fails only the item that was running).
func TestBatchDeathAfterTwoFinishedBatches(t *testing.T) {
	t.Parallel()
	death := errors.New("killed")
	const a, b, c = 5, 7, 9
	for _, tc := range []struct {
		name string
		pg   progressReport
	}{
		// a and b finished; nothing began since: the page names b.
		{"b last", progressReport{begun: b, batch: b<<32 | 2*3, finished: b, finishedBefore: a}},
		// a and b finished, and c (behind b) runs its first item.
		{"c running", progressReport{begun: c, batch: c<<32 | 1, finished: b, finishedBefore: a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ref := deadWithPage(tc.pg)
			errs := make([]error, 4)
			batchDeath(ref, a, 1, 4, nil, errs, death)
			require.NoError(t, errs[0], "its result arrived")
			for i := 1; i < 4; i++ {
				require.ErrorIs(t, errs[i], ErrResultLost, "item %d of the batch ahead ran", i)
				require.ErrorIs(t, errs[i], death)
			}
		})
	}
}

// A page that names neither the batch nor a later one it finished still
// gives the bare death (nothing is known of it), never a claim.
func TestBatchDeathOfABatchThePageDoesNotName(t *testing.T) {
	t.Parallel()
	death := errors.New("killed")
	ref := deadWithPage(progressReport{begun: 9, batch: 9<<32 | 1, finished: 8, finishedBefore: 7})
	errs := make([]error, 2)
	batchDeath(ref, 5, 0, 2, nil, errs, death)
	for i := range errs {
		require.Equal(t, death, errs[i])
	}
}

// The typed codec, given an array header that claims far more items than
// its bytes can hold, refuses it without memory for the claimed count, as
// batchInputs calls it (max is the header's own count). The transport
// scans every frame it receives, so this is the codec's own bound, for any
// caller that hands it bytes the scan did not see.
func TestReadArrayOfAHostileCount(t *testing.T) {
	// Not parallel: it measures the memory it allocates.
	for _, args := range [][]byte{
		{0xdd, 0x01, 0x00, 0x00, 0x00},
		{0xdd, 0x01, 0x00, 0x00, 0x00, 1, 2, 3},
		{0xdc, 0xff, 0xff, 1},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		count, _, _ := arrayHeader(args)
		_, _, ok := codecOf[int64]().readArray(args, count, nil)
		runtime.ReadMemStats(&after)
		require.False(t, ok, "% x", args)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "% x: allocated for the claimed count", args)
	}
}
