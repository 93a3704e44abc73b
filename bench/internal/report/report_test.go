package report_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/bench/internal/measure"
	"github.com/grove-rt/grove/bench/internal/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sum(median float64) measure.Summary {
	return measure.Summarize([]float64{median * 0.9, median, median * 1.1})
}

func sampleRun() *report.Run {
	spawn := report.NewFigure("1", "spawn to first call", report.Nanoseconds,
		report.Result{Name: "grove", Summary: sum(4e6)},
		report.Result{Name: "bare exec", Summary: sum(2e6)},
		[]report.Result{
			{Name: "go-plugin", Summary: sum(8e6)},
			{Name: "python", Absent: "python3 not on PATH"},
		}, "a note")
	stream := report.NewFigure("3", "stream", report.ItemsPerSecond,
		report.Result{Name: "grove", Summary: sum(1e6)},
		report.Result{Name: "bare", Summary: sum(4e6)}, nil, "")
	return &report.Run{
		Time:   time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC),
		Rounds: 3,
		Machine: report.Machine{OS: "linux", Arch: "amd64", CPU: "Test CPU", NumCPU: 2, CPUCount: 2, GoVersion: "go1.26",
			Python: "Python 3.11.7", Loky: "loky 3.3.0 (joblib.externals.loky) on /usr/bin/python3 3.11.2"},
		Figures: []report.Figure{spawn, stream},
		Curves: []report.Curve{{
			ID: "payload", Title: "round trip against payload", XLabel: "payload", XUnit: report.Bytes,
			Unit: report.Nanoseconds, LogX: true, LogY: true,
			X: []float64{64, 1 << 20},
			Series: []report.Series{
				{Name: "grove", Points: []measure.Summary{sum(90e3), sum(3e6)}},
				{Name: "floor", Points: []measure.Summary{sum(25e3), sum(1e6)}},
			},
		}},
	}
}

func TestRatios(t *testing.T) {
	t.Parallel()
	run := sampleRun()
	spawn, stream := run.Figures[0], run.Figures[1]
	require.InDelta(t, 2.0, float64(spawn.Ratio), 1e-9, "a cost: grove over floor")
	require.InDelta(t, 2.0, float64(spawn.Peers[0].VsGrove), 1e-9, "a peer's cost over grove's")
	require.True(t, math.IsNaN(float64(spawn.Peers[1].VsGrove)), "an absent peer has no ratio")
	require.InDelta(t, 4.0, float64(stream.Ratio), 1e-9, "a throughput: floor over grove, so above 1 is worse")

	none := report.NewFigure("x", "x", report.Bytes, report.Result{Name: "grove", Summary: sum(1)}, report.Result{Name: "none"}, nil, "")
	require.True(t, math.IsNaN(float64(none.Ratio)), "no floor measured, no ratio")
}

func TestUnitFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		unit report.Unit
		v    float64
		want string
	}{
		{report.Nanoseconds, 334, "334ns"},
		{report.Nanoseconds, 95_800, "95.8µs"},
		{report.Nanoseconds, 4_090_000, "4.09ms"},
		{report.Nanoseconds, 2_500_000_000, "2.5s"},
		{report.ItemsPerSecond, 1_110_000, "1.11M/s"},
		{report.TasksPerSecond, 850, "850/s"},
		{report.TasksPerSecond, 12_300, "12.3k/s"},
		{report.Bytes, 512, "512B"},
		{report.Bytes, 64 << 10, "64KiB"},
		{report.Bytes, 7.5 * (1 << 20), "7.5MiB"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.unit.Format(tt.v), "%v %s", tt.v, tt.unit)
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, report.WriteText(&b, sampleRun()))
	out := b.String()
	for _, want := range []string{
		"Test CPU, 2 CPUs",
		"medians of 3 interleaved rounds",
		"4ms ±5%",  // grove's median and spread: quartiles at ±5%
		"2×",       // the ratio
		"+2ms",     // grove over its floor
		"2× grove", // the peer beside grove
		"absent: python3 not on PATH",
		"+750ns/item", // a throughput: grove's time per item over the floor's, 1µs - 250ns
		"1   floor: bare exec. a note",
		"round trip against payload",
		"1MiB",
	} {
		require.Contains(t, out, want)
	}
	for _, line := range strings.Split(out, "\n") {
		require.Equal(t, strings.TrimRight(line, " "), line, "no trailing blanks")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	run := sampleRun()
	require.NoError(t, report.WriteJSON(&b, run))
	require.Contains(t, b.String(), `"vs_grove": null`, "NaN ratios are null")
	require.Contains(t, b.String(), `"median": 4000000`)
	back, err := report.ReadJSON(&b)
	require.NoError(t, err)
	require.Equal(t, run.Figures[0].Grove, back.Figures[0].Grove)
	require.InDelta(t, float64(run.Figures[0].Ratio), float64(back.Figures[0].Ratio), 1e-12)
	require.True(t, math.IsNaN(float64(back.Figures[0].Peers[1].VsGrove)))
	require.Equal(t, run.Curves[0].Series, back.Curves[0].Series)

	_, err = report.ReadJSON(strings.NewReader(`{"figures": [{"ratio": "x"}]}`))
	require.ErrorContains(t, err, "report:")
}

func TestWriteSVG(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "charts")
	files, err := report.WriteSVG(dir, sampleRun())
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "payload.svg")}, files)
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	// Well-formed XML whose root is an svg element, with the title and
	// both series' names in it.
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	require.Equal(t, "svg", root)
	for _, want := range []string{"round trip against payload", "grove", "floor", "milliseconds"} {
		require.Contains(t, string(data), want)
	}

	bad := sampleRun()
	bad.Curves[0].Series[0].Points = bad.Curves[0].Series[0].Points[:1]
	_, err = report.WriteSVG(t.TempDir(), bad)
	require.ErrorContains(t, err, "has 1 points for 2 x values")
}
