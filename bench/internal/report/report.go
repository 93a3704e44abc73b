// Package report holds the results of a grove-bench run, the figures and
// the scaling curves, and renders them as a text table, as JSON and as SVG
// charts.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/grove-rt/grove/bench/internal/measure"
)

// Unit is the unit of a figure's samples. It says how values print and
// whether lower or higher is better.
type Unit string

const (
	// Nanoseconds is a duration per operation or per event; lower is better.
	Nanoseconds Unit = "ns"
	// ItemsPerSecond is a throughput; higher is better.
	ItemsPerSecond Unit = "items/s"
	// TasksPerSecond is a throughput of tasks; higher is better.
	TasksPerSecond Unit = "tasks/s"
	// Bytes is a memory size; lower is better.
	Bytes Unit = "bytes"
)

// HigherIsBetter reports whether a larger value of u is the better one.
func (u Unit) HigherIsBetter() bool { return u == ItemsPerSecond || u == TasksPerSecond }

// Cost returns how many times b's cost a costs, in unit u: a/b for costs,
// b/a for throughputs, so that above 1 always means a is worse. It is NaN
// when either value is missing or zero.
func (u Unit) Cost(a, b float64) float64 {
	if a == 0 || b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	if u.HigherIsBetter() {
		return b / a
	}
	return a / b
}

// Format prints v in u with three significant digits and a scaled suffix:
// 95.8µs, 1.11M/s, 7.42MiB.
func (u Unit) Format(v float64) string {
	switch u {
	case Nanoseconds:
		d := time.Duration(math.Round(v))
		switch {
		case v < 1000:
			return fmt.Sprintf("%.3gns", v)
		case d < time.Millisecond:
			return fmt.Sprintf("%.3gµs", v/1e3)
		case d < time.Second:
			return fmt.Sprintf("%.3gms", v/1e6)
		default:
			return fmt.Sprintf("%.3gs", v/1e9)
		}
	case ItemsPerSecond, TasksPerSecond:
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.3gM/s", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.3gk/s", v/1e3)
		default:
			return fmt.Sprintf("%.3g/s", v)
		}
	case Bytes:
		switch a := math.Abs(v); {
		case a >= 1<<20:
			return fmt.Sprintf("%.3gMiB", v/(1<<20))
		case a >= 1<<10:
			return fmt.Sprintf("%.3gKiB", v/(1<<10))
		default:
			return fmt.Sprintf("%.3gB", v)
		}
	}
	return fmt.Sprintf("%.3g%s", v, u)
}

// Ratio is a cost ratio. NaN, a ratio that could not be taken, is null
// in JSON (which has no NaN).
type Ratio float64

// MarshalJSON encodes NaN and infinities as null.
func (r Ratio) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(r)) || math.IsInf(float64(r), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(r))
}

// UnmarshalJSON decodes null as NaN.
func (r *Ratio) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = Ratio(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("report: ratio: %w", err)
	}
	*r = Ratio(f)
	return nil
}

// A Result is one contender's measurement in a figure: its summary, or
// the reason it is absent (a peer whose runtime is not on the machine).
type Result struct {
	Name string `json:"name"`
	measure.Summary
	// Absent, when set, says why there is no measurement.
	Absent string `json:"absent,omitempty"`
}

// Measured reports whether r holds a measurement.
func (r Result) Measured() bool { return r.Absent == "" && r.N > 0 }

// A Peer is the result of an alternative a user could pick instead of
// grove, with its cost relative to grove's.
type Peer struct {
	Result
	// VsGrove is the peer's cost as a multiple of grove's (above 1: grove
	// is faster or smaller); NaN when either is absent.
	VsGrove Ratio `json:"vs_grove"`
}

// A Figure is one headline number: grove's measurement beside its floor,
// the least the machine allows for the same job, and its peers.
type Figure struct {
	ID    string `json:"id"`
	Title string `json:"name"`
	Unit  Unit   `json:"unit"`
	Grove Result `json:"grove"`
	Floor Result `json:"floor"`
	// Ratio is grove's cost as a multiple of the floor's; NaN without a
	// floor.
	Ratio Ratio  `json:"ratio"`
	Peers []Peer `json:"peers"`
	// Note says what the figure measures and how, in one sentence.
	Note string `json:"note,omitempty"`
}

// NewFigure computes the ratios of grove to the floor and of each peer to
// grove.
func NewFigure(id, title string, unit Unit, grove, floor Result, peers []Result, note string) Figure {
	f := Figure{ID: id, Title: title, Unit: unit, Grove: grove, Floor: floor, Ratio: Ratio(math.NaN()), Note: note}
	if grove.Measured() && floor.Measured() {
		f.Ratio = Ratio(unit.Cost(grove.Median, floor.Median))
	}
	for _, p := range peers {
		vs := math.NaN()
		if grove.Measured() && p.Measured() {
			vs = unit.Cost(p.Median, grove.Median)
		}
		f.Peers = append(f.Peers, Peer{Result: p, VsGrove: Ratio(vs)})
	}
	return f
}

// A Curve is how a cost grows with a parameter: one or more series of
// summaries over the same X values.
type Curve struct {
	ID     string    `json:"id"`
	Title  string    `json:"name"`
	XLabel string    `json:"x_label"`
	XUnit  Unit      `json:"x_unit,omitempty"`
	Unit   Unit      `json:"unit"`
	X      []float64 `json:"x"`
	Series []Series  `json:"series"`
	// LogX and LogY choose logarithmic axes for the chart.
	LogX bool `json:"log_x,omitempty"`
	LogY bool `json:"log_y,omitempty"`
	// Note says what the curve shows and what shape to expect.
	Note string `json:"note,omitempty"`
}

// A Series is one line of a curve: a summary per X value of the curve.
type Series struct {
	Name   string            `json:"name"`
	Points []measure.Summary `json:"points"`
}

// Machine describes where a run took place.
type Machine struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPU       string `json:"cpu"`
	NumCPU    int    `json:"num_cpu"`
	CPUCount  int    `json:"grove_cpu_count"`
	Kernel    string `json:"kernel,omitempty"`
	GoVersion string `json:"go_version"`
	Python    string `json:"python,omitempty"`
	// Loky names loky's version and the interpreter it ran on, when found.
	Loky string `json:"loky,omitempty"`
}

// Run is everything one grove-bench run measured.
type Run struct {
	Time    time.Time `json:"time"`
	Quick   bool      `json:"quick"`
	Rounds  int       `json:"rounds"`
	Machine Machine   `json:"machine"`
	Figures []Figure  `json:"figures"`
	Curves  []Curve   `json:"curves"`
}
