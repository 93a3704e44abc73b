package measure_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/bench/internal/measure"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		samples []float64
		want    measure.Summary
		spread  float64
	}{
		{"empty", nil, measure.Summary{}, 0},
		{"one", []float64{7}, measure.Summary{N: 1, Min: 7, P25: 7, Median: 7, P75: 7, Max: 7}, 0},
		{"odd, unsorted", []float64{5, 1, 3}, measure.Summary{N: 3, Min: 1, P25: 2, Median: 3, P75: 4, Max: 5}, 1.0 / 3},
		{"even", []float64{4, 1, 3, 2}, measure.Summary{N: 4, Min: 1, P25: 1.75, Median: 2.5, P75: 3.25, Max: 4}, 0.3},
		{"outlier moves the max, not the median", []float64{10, 10, 10, 10, 1000}, measure.Summary{N: 5, Min: 10, P25: 10, Median: 10, P75: 10, Max: 1000}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]float64(nil), tt.samples...)
			got := measure.Summarize(in)
			require.Equal(t, tt.want, got)
			require.InDelta(t, tt.spread, got.Spread(), 1e-9)
			require.Equal(t, tt.samples, in, "Summarize must not reorder its input")
		})
	}
}

func TestInterleaveRotatesAndSummarises(t *testing.T) {
	t.Parallel()
	var order []string
	contender := func(name string, v float64) measure.Contender {
		return measure.Contender{Name: name, Sample: func(context.Context) (float64, error) {
			order = append(order, name)
			return v, nil
		}}
	}
	sums, err := measure.Interleave(context.Background(), 3, contender("a", 1), contender("b", 2), contender("c", 3))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "b", "c", "a", "c", "a", "b"}, order)
	require.Len(t, sums, 3)
	for i, s := range sums {
		require.Equal(t, 3, s.N)
		require.Equal(t, float64(i+1), s.Median)
	}
}

func TestInterleaveTearsDownOnError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	var setups, teardowns []string
	c := func(name string, setupErr, sampleErr error) measure.Contender {
		return measure.Contender{
			Name:     name,
			Setup:    func(context.Context) error { setups = append(setups, name); return setupErr },
			Sample:   func(context.Context) (float64, error) { return 1, sampleErr },
			Teardown: func() error { teardowns = append(teardowns, name); return nil },
		}
	}

	_, err := measure.Interleave(context.Background(), 2, c("ok", nil, nil), c("bad", nil, boom))
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "measure: bad: boom")
	require.Equal(t, []string{"ok", "bad"}, teardowns, "every set-up contender is torn down")

	setups, teardowns = nil, nil
	_, err = measure.Interleave(context.Background(), 2, c("first", nil, nil), c("broken", boom, nil), c("never", nil, nil))
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "broken: setup")
	require.Equal(t, []string{"first", "broken"}, setups)
	require.Equal(t, []string{"first"}, teardowns, "only the contenders set up before the failure are torn down")

	_, err = measure.Interleave(context.Background(), 0, c("x", nil, nil))
	require.ErrorContains(t, err, "at least one")
}

func TestInterleaveHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	samples := 0
	_, err := measure.Interleave(ctx, 10, measure.Contender{Name: "x", Sample: func(context.Context) (float64, error) {
		samples++
		cancel()
		return 1, nil
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, samples)
}

func TestPerOpCalibratesToTarget(t *testing.T) {
	t.Parallel()
	var calls []int
	// Each op takes 1µs of fake time per operation, kept by the op itself.
	sample := measure.PerOp(time.Millisecond, func(_ context.Context, n int) error {
		calls = append(calls, n)
		deadline := time.Now().Add(time.Duration(n) * time.Microsecond)
		for time.Now().Before(deadline) {
		}
		return nil
	})
	v, err := sample(context.Background())
	require.NoError(t, err)
	require.GreaterOrEqual(t, v, 1000.0, "at least the 1µs each operation spins")
	require.Equal(t, 1, calls[0], "calibration starts from one operation")
	require.Greater(t, len(calls), 2, "a 1ms target is not reached by one 1µs operation")
	last := calls[len(calls)-1]
	require.Equal(t, calls[len(calls)-2], last, "the sample reuses the n that reached the target")
	for i := 1; i < len(calls)-1; i++ {
		require.Greater(t, calls[i], calls[i-1], "calibration only grows n")
	}
	// A second sample reuses the calibrated n.
	_, err = sample(context.Background())
	require.NoError(t, err)
	require.Equal(t, last, calls[len(calls)-1])
}

func TestRateAndOnce(t *testing.T) {
	t.Parallel()
	rate := measure.Rate(time.Millisecond, func(_ context.Context, n int) error {
		deadline := time.Now().Add(time.Duration(n) * 10 * time.Microsecond)
		for time.Now().Before(deadline) {
		}
		return nil
	})
	v, err := rate(context.Background())
	require.NoError(t, err)
	require.LessOrEqual(t, v, 100000.0, "no more than 100k items/s at 10µs an item")
	require.Greater(t, v, 0.0)

	once := measure.Once(func(context.Context) (time.Duration, error) { return 3 * time.Millisecond, nil })
	v, err = once(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3e6, v)

	boom := errors.New("boom")
	_, err = measure.Rate(time.Millisecond, func(context.Context, int) error { return boom })(context.Background())
	require.ErrorIs(t, err, boom)
}

func TestRSS(t *testing.T) {
	t.Parallel()
	b, err := measure.RSS(os.Getpid())
	if errors.Is(err, measure.ErrNoRSS) {
		t.Skip("no per-process RSS on this system")
	}
	require.NoError(t, err)
	require.Greater(t, b, int64(1<<20), "a Go test binary holds more than 1 MiB")
	_, err = measure.RSS(-1)
	require.Error(t, err)
}
