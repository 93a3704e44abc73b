//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/embed"
)

// The environment of an agent process: the bench binary re-executed as a
// host agent (agentMain). envMark carries the bench cluster's random ID,
// which the agents' actors inherit, so that the sweep at the end finds
// every process of the cluster.
const (
	envMark  = "GROVE_BENCH_CLUSTER"
	envHost  = "GROVE_BENCH_AGENT"
	envName  = "GROVE_BENCH_AGENT_NAME"
	envURL   = "GROVE_BENCH_AGENT_URL"
	envSeed  = "GROVE_BENCH_AGENT_SEED_FILE"     // a file the agent reads and removes
	envSys   = "GROVE_BENCH_AGENT_SYS_SEED_FILE" // likewise, for a watching agent
	envDeadT = "GROVE_BENCH_AGENT_DEAD_INTERVAL"
)

// benchT is the bench cluster's T (its dead interval): short, so that the
// hang figure is quick; it is printed beside that figure.
const benchT = 400 * time.Millisecond

// agentStart bounds an agent's start (exec, join, announcement) and
// agentStop its orderly stop before it is killed.
const (
	agentStart = 10 * time.Second
	agentStop  = 5 * time.Second
)

// agentMain runs this process as a host agent if benchCluster.agent
// started it as one, and exits when the agent ends (SIGTERM stops it);
// otherwise it returns at once.
func agentMain() {
	host := os.Getenv(envHost)
	if host == "" || os.Getenv(envMark) == "" {
		return
	}
	dead, err := time.ParseDuration(os.Getenv(envDeadT))
	if err != nil {
		fmt.Fprintf(os.Stderr, "grove-bench: agent of %s: %s: %v\n", host, envDeadT, err)
		os.Exit(2)
	}
	// The seeds come in files (cluster.ReadSecret removes each once read),
	// never in the environment, which the agent's actors could read.
	seed, err := cluster.ReadSecret(os.Getenv(envSeed))
	if err != nil {
		fmt.Fprintf(os.Stderr, "grove-bench: agent of %s: %v\n", host, err)
		os.Exit(2)
	}
	var sysSeed []byte
	if path := os.Getenv(envSys); path != "" {
		if sysSeed, err = cluster.ReadSecret(path); err != nil {
			fmt.Fprintf(os.Stderr, "grove-bench: agent of %s: %v\n", host, err)
			os.Exit(2)
		}
	}
	cfg := cluster.AgentConfig{Host: host, SysSeed: sysSeed, Config: cluster.Config{
		Name: os.Getenv(envName), User: embed.AgentUser(host), URLs: []string{os.Getenv(envURL)},
		NKeySeed: seed, DeadInterval: dead,
	}}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err = cluster.Serve(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "grove-bench: agent of %s: %v\n", host, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// A benchCluster is the cross-host figures' cluster on 127.0.0.1: two
// routed embedded NATS servers, a client joined to the first, agent
// processes joined to the second (every remote call crosses the route),
// all marked for the sweep.
type benchCluster struct {
	id      string
	dir     string // the agents' seed files, until they read them
	servers *embed.Servers
	client  *cluster.Cluster
	agents  []*agentProc
}

// An agentProc is a host agent process; its actors share its process
// group.
type agentProc struct {
	host string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
	err  error
}

// startCluster starts the servers with an agent user for each of hosts
// and joins the client; it starts no agent. Close stops it all.
func startCluster(ctx context.Context, hosts []string) (*benchCluster, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	bc := &benchCluster{id: hex.EncodeToString(id)}
	var err error
	if bc.dir, err = os.MkdirTemp("", "grove-bench-cluster-"); err != nil {
		return nil, err
	}
	bc.servers, err = embed.Start(ctx, embed.Options{Servers: 2, Hosts: hosts, DeadInterval: benchT, NoAdvertise: true})
	if err != nil {
		os.RemoveAll(bc.dir)
		return nil, err
	}
	if bc.client, err = bc.join(ctx, embed.ClientUser, 0); err != nil {
		bc.servers.Shutdown()
		os.RemoveAll(bc.dir)
		return nil, err
	}
	return bc, nil
}

// join joins as user through server i.
func (bc *benchCluster) join(ctx context.Context, user string, i int) (*cluster.Cluster, error) {
	u, err := bc.servers.User(user)
	if err != nil {
		return nil, err
	}
	return cluster.Join(ctx, cluster.Config{Name: bc.servers.Name(), User: u.Name,
		URLs: []string{bc.servers.URL(i)}, NKeySeed: u.Seed, DeadInterval: benchT})
}

// agent starts the agent of host h as a process joined to the second
// server, watching membership if watch is set (as a core host does), and
// returns once it has announced itself, within agentStart.
func (bc *benchCluster) agent(ctx context.Context, h string, watch bool) (*agentProc, error) {
	u, err := bc.servers.User(embed.AgentUser(h))
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	seedFile, err := bc.secretFile(h+".seed", u.Seed)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), envMark+"="+bc.id, envHost+"="+h, envName+"="+bc.servers.Name(),
		envURL+"="+bc.servers.URL(1), envSeed+"="+seedFile, envDeadT+"="+benchT.String())
	if watch {
		sys, err := bc.servers.User(embed.SysUser)
		if err != nil {
			return nil, err
		}
		sysFile, err := bc.secretFile(h+".sys.seed", sys.Seed)
		if err != nil {
			return nil, err
		}
		env = append(env, envSys+"="+sysFile)
	}
	up := make(chan struct{}, 1)
	sub, err := bc.client.Conn().Subscribe("grove."+bc.servers.Name()+".ev.hostup."+h, func(*nats.Msg) {
		select {
		case up <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := bc.client.Conn().Flush(); err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the agent of %s: %w", h, err)
	}
	a := &agentProc{host: h, cmd: cmd, done: make(chan struct{})}
	go func() { a.err = cmd.Wait(); close(a.done) }()
	bc.agents = append(bc.agents, a)
	timer := time.NewTimer(agentStart)
	defer timer.Stop()
	select {
	case <-up:
		return a, nil
	case <-a.done:
		return nil, fmt.Errorf("the agent of %s exited before it announced itself: %v", h, a.err)
	case <-timer.C:
		return nil, fmt.Errorf("the agent of %s did not announce itself within %v", h, agentStart)
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// signal sends sig to the agent's process group, its actors included.
func (a *agentProc) signal(sig syscall.Signal) { _ = syscall.Kill(-a.cmd.Process.Pid, sig) }

// kill ends the agent and its actors with SIGKILL and waits for the agent.
func (a *agentProc) kill() {
	a.signal(syscall.SIGKILL)
	<-a.done
}

// stop stops the agent with SIGTERM (its actors get their ladders), and
// kills its process group if it has not exited within agentStop.
func (a *agentProc) stop() error {
	a.signal(syscall.SIGCONT)
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(agentStop)
	defer timer.Stop()
	select {
	case <-a.done:
		a.signal(syscall.SIGKILL) // an actor left in the group, if any
		return nil
	case <-timer.C:
		a.kill()
		return fmt.Errorf("the agent of %s did not stop within %v of SIGTERM: killed", a.host, agentStop)
	}
}

// Close stops every agent, closes the client, shuts the servers down and
// checks that no process of the cluster is left (survivors are killed and
// reported).
func (bc *benchCluster) Close() error {
	var errs []error
	for _, a := range bc.agents {
		errs = append(errs, a.stop())
	}
	errs = append(errs, bc.client.Close())
	bc.servers.Shutdown()
	errs = append(errs, os.RemoveAll(bc.dir))
	if left := sweep(bc.id, 2*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes of the bench cluster left behind (killed): %v", left))
	}
	return errors.Join(errs...)
}

// secretFile writes a seed for an agent to read (and remove) into a 0600
// file of the cluster's directory, and returns its path.
func (bc *benchCluster) secretFile(name string, seed []byte) (string, error) {
	path := filepath.Join(bc.dir, name)
	return path, os.WriteFile(path, seed, 0o600)
}

// marked lists the processes, other than this one, whose environment
// holds envMark=id.
func marked(id string) []int {
	want := []byte("\x00" + envMark + "=" + id + "\x00")
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err == nil && bytes.Contains(append(append([]byte{0}, env...), 0), want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// sweep waits up to grace for the processes marked id to be gone (they
// are not this process's children: it cannot wait on them), then kills
// the survivors and returns them.
func sweep(id string, grace time.Duration) []int {
	deadline := time.Now().Add(grace)
	for {
		left := marked(id)
		if len(left) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}
