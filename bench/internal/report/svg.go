package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteSVG draws each curve of run as an SVG chart in dir, named after the
// curve's ID, and returns the files written. Each series is a line through
// its medians with bars from the first to the third quartile. It creates
// dir if needed.
func WriteSVG(dir string, run *Run) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: svg: %w", err)
	}
	var files []string
	for _, c := range run.Curves {
		p, err := Chart(c)
		if err != nil {
			return files, err
		}
		file := filepath.Join(dir, c.ID+".svg")
		if err := p.Save(7*vg.Inch, 4.5*vg.Inch, file); err != nil {
			return files, fmt.Errorf("report: svg: %s: %w", c.ID, err)
		}
		files = append(files, file)
	}
	return files, nil
}

// Chart builds the plot of one curve.
func Chart(c Curve) (*plot.Plot, error) {
	if len(c.X) == 0 || len(c.Series) == 0 {
		return nil, fmt.Errorf("report: svg: %s: nothing to draw", c.ID)
	}
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	div, yunit := displayScale(c)
	p.Y.Label.Text = yunit
	// Keep the legend off the lines: curves on a linear axis from zero sit
	// high, so it goes bottom right; rising curves on log axes leave the
	// top left free.
	p.Legend.Top = c.LogY
	p.Legend.Left = c.LogY
	p.Legend.XOffs, p.Legend.YOffs = -vg.Millimeter, vg.Millimeter

	ticks := make([]plot.Tick, len(c.X))
	for i, x := range c.X {
		ticks[i] = plot.Tick{Value: x, Label: formatX(c.XUnit, x)}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if c.LogX {
		p.X.Scale = plot.LogScale{}
	}
	if c.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.Y.Min = 0
	}

	for i, s := range c.Series {
		if len(s.Points) != len(c.X) {
			return nil, fmt.Errorf("report: svg: %s: series %q has %d points for %d x values", c.ID, s.Name, len(s.Points), len(c.X))
		}
		pts := spreadPoints{x: c.X, sums: s, div: div}
		line, glyphs, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("report: svg: %s: %w", c.ID, err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		glyphs.Color = plotutil.Color(i)
		glyphs.Shape = plotutil.Shape(i)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("report: svg: %s: %w", c.ID, err)
		}
		bars.Color = plotutil.Color(i)
		p.Add(line, glyphs, bars)
		p.Legend.Add(s.Name, line, glyphs)
	}
	return p, nil
}

// spreadPoints presents one series to the plotter: medians as Y, the
// quartiles as the error bars, all divided by div.
type spreadPoints struct {
	x    []float64
	sums Series
	div  float64
}

func (s spreadPoints) Len() int { return len(s.x) }

func (s spreadPoints) XY(i int) (float64, float64) {
	return s.x[i], s.sums.Points[i].Median / s.div
}

func (s spreadPoints) YError(i int) (float64, float64) {
	p := s.sums.Points[i]
	return (p.Median - p.P25) / s.div, (p.P75 - p.Median) / s.div
}

// displayScale picks a divisor and an axis label so that the chart's
// values read in a familiar unit (µs, ms, MiB, k/s).
func displayScale(c Curve) (float64, string) {
	top := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			top = math.Max(top, p.Median)
		}
	}
	switch c.Unit {
	case Nanoseconds:
		switch {
		case top >= 1e9:
			return 1e9, "seconds"
		case top >= 1e6:
			return 1e6, "milliseconds"
		case top >= 1e3:
			return 1e3, "microseconds"
		}
		return 1, "nanoseconds"
	case Bytes:
		if top >= 1<<20 {
			return 1 << 20, "MiB"
		}
		return 1 << 10, "KiB"
	case ItemsPerSecond, TasksPerSecond:
		if top >= 1e6 {
			return 1e6, "million " + string(c.Unit)
		}
		if top >= 1e3 {
			return 1e3, "thousand " + string(c.Unit)
		}
	}
	return 1, string(c.Unit)
}
