// Package measure takes repeated samples of competing implementations,
// interleaved round by round so that a noisy machine slows each of them
// alike, and summarises each as a median with its spread.
package measure

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"
)

// ErrNoRSS is returned by RSS where the system gives no per-process RSS
// that grove-bench knows how to read (anywhere but Linux).
var ErrNoRSS = errors.New("measure: rss: only read on Linux")

// Summary describes a set of samples: its size, extremes, quartiles and
// median. The zero Summary has N == 0 and describes no samples.
type Summary struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	P25    float64 `json:"p25"`
	Median float64 `json:"median"`
	P75    float64 `json:"p75"`
	Max    float64 `json:"max"`
}

// Summarize sorts a copy of samples and returns their summary. Quartiles
// are interpolated linearly between the closest ranks.
func Summarize(samples []float64) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return Summary{
		N:      len(s),
		Min:    s[0],
		P25:    quantile(s, 0.25),
		Median: quantile(s, 0.5),
		P75:    quantile(s, 0.75),
		Max:    s[len(s)-1],
	}
}

// quantile interpolates the q-quantile of sorted samples.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// Spread is half the interquartile range relative to the median: a median
// of 100 with quartiles 90 and 110 has a spread of 0.1, printed ±10%. It
// is 0 for fewer than two samples or a zero median.
func (s Summary) Spread() float64 {
	if s.N < 2 || s.Median == 0 {
		return 0
	}
	return (s.P75 - s.P25) / 2 / math.Abs(s.Median)
}

// A Contender is one implementation under measurement. Setup, if set,
// runs once before the first sample and Teardown, if set, once after the
// last (also when a sample fails); Sample takes one sample and returns its
// value in the figure's unit.
type Contender struct {
	Name     string
	Setup    func(ctx context.Context) error
	Sample   func(ctx context.Context) (float64, error)
	Teardown func() error
}

// Interleave takes rounds samples of each contender: every round samples
// each contender once, starting one further along each round, so that
// drift in the machine's speed is shared out. It returns one summary per
// contender, in order. A contender's error stops the run and is returned
// naming it; every setup that ran is torn down. It blocks for the whole
// run and honours ctx between samples, each of which starts with a
// garbage collection.
func Interleave(ctx context.Context, rounds int, cs ...Contender) (sums []Summary, err error) {
	if rounds < 1 {
		return nil, fmt.Errorf("measure: %d rounds: need at least one", rounds)
	}
	for i, c := range cs {
		if c.Setup != nil {
			if err := c.Setup(ctx); err != nil {
				teardown(cs[:i])
				return nil, fmt.Errorf("measure: %s: setup: %w", c.Name, err)
			}
		}
	}
	defer func() { err = errors.Join(err, teardown(cs)) }()
	samples := make([][]float64, len(cs))
	for r := range rounds {
		for k := range cs {
			i := (r + k) % len(cs)
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("measure: %w", err)
			}
			// Each sample starts from a collected heap, so that garbage
			// left by the one before does not land in it.
			runtime.GC()
			v, err := cs[i].Sample(ctx)
			if err != nil {
				return nil, fmt.Errorf("measure: %s: %w", cs[i].Name, err)
			}
			samples[i] = append(samples[i], v)
		}
	}
	sums = make([]Summary, len(cs))
	for i := range cs {
		sums[i] = Summarize(samples[i])
	}
	return sums, nil
}

// teardown runs the teardowns of cs and joins their errors.
func teardown(cs []Contender) error {
	var errs []error
	for _, c := range cs {
		if c.Teardown != nil {
			if err := c.Teardown(); err != nil {
				errs = append(errs, fmt.Errorf("measure: %s: teardown: %w", c.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// PerOp turns op, which performs an operation n times, into a sampler of
// nanoseconds per operation. The first sample calibrates n, doubling it
// until one call lasts at least target; later samples reuse that n. It
// costs about target per sample after calibration.
func PerOp(target time.Duration, op func(ctx context.Context, n int) error) func(ctx context.Context) (float64, error) {
	n := 0
	return func(ctx context.Context) (float64, error) {
		if n == 0 {
			n = 1
			for {
				elapsed, err := timeOp(ctx, op, n)
				if err != nil {
					return 0, err
				}
				if elapsed >= target || n >= 1<<30 {
					break
				}
				// Aim a little past the target, growing at most 100× a step.
				grow := 100.0
				if elapsed > 0 {
					grow = min(100, max(2, 1.2*float64(target)/float64(elapsed)))
				}
				n = int(float64(n) * grow)
			}
		}
		elapsed, err := timeOp(ctx, op, n)
		if err != nil {
			return 0, err
		}
		return float64(elapsed.Nanoseconds()) / float64(n), nil
	}
}

func timeOp(ctx context.Context, op func(ctx context.Context, n int) error, n int) (time.Duration, error) {
	start := time.Now()
	err := op(ctx, n)
	return time.Since(start), err
}

// Rate turns op, which moves n items, into a sampler of items per second,
// calibrated like PerOp.
func Rate(target time.Duration, op func(ctx context.Context, n int) error) func(ctx context.Context) (float64, error) {
	per := PerOp(target, op)
	return func(ctx context.Context) (float64, error) {
		ns, err := per(ctx)
		if err != nil || ns == 0 {
			return 0, err
		}
		return 1e9 / ns, nil
	}
}

// Once turns op, which returns how long its timed part took, into a
// sampler of nanoseconds: for costs too large to repeat within a sample,
// or with set-up that must stay outside the timed part.
func Once(op func(ctx context.Context) (time.Duration, error)) func(ctx context.Context) (float64, error) {
	return func(ctx context.Context) (float64, error) {
		d, err := op(ctx)
		return float64(d.Nanoseconds()), err
	}
}
