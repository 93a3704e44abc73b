// Command grove shows the live actor tree of a running grove program, and
// where it is stuck: its stacks. The program must opt in with
// actor.ServeDebug; grove then talks to it over a Unix socket that only
// the same user can reach.
//
//	go run github.com/grove-rt/grove/cmd/grove ps PID
//	go run github.com/grove-rt/grove/cmd/grove stacks PID
//
// ps prints the tree as an indented table (NAME, ID, PID, BACKEND, STATE,
// CALLS, UPTIME, RSS); stacks prints every actor's goroutine stacks, in
// tree order, under a header per actor. -timeout (5s by default) bounds
// the whole: an actor that has not answered by then is marked, not waited
// for. It is a thin layer over actor.DebugTree and actor.DebugStacks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/grove-rt/grove/actor"
)

const usage = `usage: grove [-timeout d] ps PID
       grove [-timeout d] stacks PID

ps prints the actor tree of process PID as an indented table; stacks
prints the goroutine stacks of every actor of that tree. The program must
serve its tree view: call actor.ServeDebug(ctx) in it.

`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is grove with args, writing to stdout and stderr; it returns the
// exit code: 0, 1 for a failure, 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("grove", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the whole tree to answer")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "grove: -timeout %v: give a positive duration (5s, say)\n", *timeout)
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	pid, err := strconv.Atoi(fs.Arg(1))
	if err != nil || pid <= 0 {
		fmt.Fprintf(stderr, "grove: %q is not a pid\n", fs.Arg(1))
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch fs.Arg(0) {
	case "ps":
		var t actor.TreeInfo
		if t, err = actor.DebugTree(ctx, pid); err == nil {
			_, err = t.WriteTo(stdout)
		}
	case "stacks":
		err = actor.DebugStacks(ctx, pid, stdout)
	default:
		fmt.Fprintf(stderr, "grove: unknown command %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "grove: %v\n", err)
		return 1
	}
	return 0
}
