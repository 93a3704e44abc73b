// Command grove-bench measures every headline figure of grove beside its
// physical floor and beside the alternatives a user would pick instead,
// in one run on the machine at hand, so that the ratios hold however
// noisy the machine is.
//
//	go run ./bench                  # the full run, a few minutes
//	go run ./bench -quick           # a short run, as CI does
//	go run ./bench -json out.json   # also every figure as JSON
//	go run ./bench -svg charts      # also the scaling curves as SVG
//	go run ./bench -run '^(2|4b|payload)$'  # only the figures and curves matched
//	go run ./bench -from out.json -svg charts  # redraw a saved run, measuring nothing
//
// Each figure is a median over rounds in which grove, its floor and its
// peers take turns, with the spread (half the interquartile range) beside
// it. Floors re-execute this binary as a bare child on a socketpair; the
// peers are hashicorp/go-plugin, net/rpc, conc, errgroup, Python's
// multiprocessing (when python3 is on the PATH) and loky's reusable
// executor (figures 4a-d), run by the first interpreter that imports loky
// or joblib's vendored copy, joblib.externals.loky: $GROVE_BENCH_PYTHON if
// set, else python3 on the PATH, then /usr/bin/python3. Without one, loky
// is printed as skipped with how to install it (apt install python3-joblib,
// or pip install loky). The cross-host figures (11a-e, Linux) run two
// embedded NATS servers and host agents (this binary re-executed) on
// 127.0.0.1, all stopped and swept at the end.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/grove-rt/grove/actor"
	"github.com/grove-rt/grove/bench/internal/floor"
	"github.com/grove-rt/grove/bench/internal/peer"
	"github.com/grove-rt/grove/bench/internal/report"
	"github.com/grove-rt/grove/pool"
)

func main() {
	// Children first: a bare floor, a peer's server, or an actor.
	floor.ChildMain()
	peer.ChildMain()
	actor.Main()
	agentMain() // a host agent of the cross-host figures
	os.Exit(run())
}

func run() int {
	quick := flag.Bool("quick", false, "a short run: fewer rounds, shorter samples, smaller curves")
	jsonFile := flag.String("json", "", "write every figure and curve as JSON to `file`")
	svgDir := flag.String("svg", "", "draw the scaling curves as SVG charts in `dir`")
	only := flag.String("run", "", "measure only the figures (1 to 11; 4a to 4d) and curves (nursery, workers, payload) whose id matches `regexp`")
	from := flag.String("from", "", "print and draw the run saved in JSON `file` instead of measuring")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./bench [flags]\n\nMeasures grove beside its floors and peers and prints the table.")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "grove-bench: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		return 2
	}
	match, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintf(os.Stderr, "grove-bench: -run: %v\n", err)
		return 2
	}

	var res *report.Run
	failed := false
	if *from != "" {
		res, err = readJSON(*from)
		if err != nil {
			fmt.Fprintf(os.Stderr, "grove-bench: %v\n", err)
			return 1
		}
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		s := newSettings(*quick)
		if s.loky, s.noLoky = peer.FindLoky(ctx); s.noLoky != nil {
			fmt.Fprintf(os.Stderr, "grove-bench: loky skipped: %v\n", s.noLoky)
		}
		res, failed = measureAll(ctx, s, match)
		if len(res.Figures)+len(res.Curves) == 0 && !failed {
			fmt.Fprintf(os.Stderr, "grove-bench: -run %q matches no figure (1 to 11; 4a to 4d) or curve (nursery, workers, payload)\n", *only)
			return 2
		}
	}

	if err := report.WriteText(os.Stdout, res); err != nil {
		fmt.Fprintf(os.Stderr, "grove-bench: %v\n", err)
		return 1
	}
	if *jsonFile != "" {
		if err := writeJSON(*jsonFile, res); err != nil {
			fmt.Fprintf(os.Stderr, "grove-bench: %v\n", err)
			return 1
		}
	}
	if *svgDir != "" {
		files, err := report.WriteSVG(*svgDir, res)
		if err != nil {
			fmt.Fprintf(os.Stderr, "grove-bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "grove-bench: wrote %s\n", strings.Join(files, ", "))
	}
	if failed {
		return 1
	}
	return 0
}

// measureAll measures the figures and curves whose id matches; failed
// says whether any of them failed (each failure is printed).
func measureAll(ctx context.Context, s settings, match *regexp.Regexp) (*report.Run, bool) {
	res := &report.Run{Time: time.Now(), Quick: s.quick, Rounds: s.rounds, Machine: machine()}
	if s.noLoky == nil {
		res.Machine.Loky = s.loky.String()
	}
	failed := false
	for _, f := range figures {
		if !match.MatchString(f.id) {
			continue
		}
		fmt.Fprintf(os.Stderr, "grove-bench: figure %s...\n", f.id)
		figs, err := f.fn(ctx, s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "grove-bench: figure %s: %v\n", f.id, err)
			failed = true
			continue
		}
		res.Figures = append(res.Figures, figs...)
	}
	for _, c := range curves {
		if !match.MatchString(c.id) {
			continue
		}
		fmt.Fprintf(os.Stderr, "grove-bench: curve %s...\n", c.id)
		cs, err := c.fn(ctx, s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "grove-bench: curve %s: %v\n", c.id, err)
			failed = true
			continue
		}
		res.Curves = append(res.Curves, cs...)
	}
	return res, failed
}

func readJSON(file string) (*report.Run, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return report.ReadJSON(f)
}

func writeJSON(file string, res *report.Run) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := report.WriteJSON(f, res); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// machine describes this machine for the report.
func machine() report.Machine {
	m := report.Machine{
		OS: runtime.GOOS, Arch: runtime.GOARCH, NumCPU: runtime.NumCPU(),
		CPUCount: pool.CPUCount(), GoVersion: runtime.Version(), CPU: "unknown CPU",
		Python: pythonVersion(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
