//go:build linux

package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/embed"
)

// More of an agent process's environment: the system user's seed (every
// test agent watches membership, as a core host's does) and its labels.
const (
	envSys    = "GROVE_CLUSTERTEST_SYS_SEED_FILE"
	envKeys   = "GROVE_CLUSTERTEST_USER_KEYS" // public nkeys by user name, JSON
	envLabels = "GROVE_CLUSTERTEST_LABELS"
	envMax    = "GROVE_CLUSTERTEST_MAX_ACTORS"
	envAllow  = "GROVE_CLUSTERTEST_ALLOW"     // actor names, comma-separated
	envEnv    = "GROVE_CLUSTERTEST_ALLOW_ENV" // keys, comma-separated
)

// agentStop bounds an agent's orderly stop at the end of its test (its
// actors' ladders included) before it is killed.
const agentStop = 5 * time.Second

// AgentMain runs this process as a host agent if it was started as one
// by [Cluster.Agent], and exits when the agent ends (SIGTERM stops it);
// otherwise it returns at once. A test binary's TestMain calls it after
// actor.Main:
//
//	func TestMain(m *testing.M) {
//		actor.Main()
//		clustertest.AgentMain()
//		goleak.VerifyTestMain(m)
//	}
func AgentMain() {
	if os.Getenv(envID) == "" || os.Getenv(envHost) == "" {
		return
	}
	host, cfg, core, err := configFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sys, err := cluster.ReadSecret(os.Getenv(envSys))
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %s: %v\n", envSys, err)
		os.Exit(2)
	}
	acfg := cluster.AgentConfig{Config: cfg, Host: host, SysSeed: sys, Labels: map[string]string{}, Core: core}
	if k := os.Getenv(envKeys); k != "" {
		if err := json.Unmarshal([]byte(k), &acfg.Users); err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: %s: %v\n", envKeys, err)
			os.Exit(2)
		}
	}
	for _, kv := range strings.Split(os.Getenv(envLabels), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			acfg.Labels[k] = v
		}
	}
	if names := os.Getenv(envAllow); names != "" {
		allowed := strings.Split(names, ",")
		acfg.Allow = func(_, name string) bool { return slices.Contains(allowed, name) }
	}
	if keys := os.Getenv(envEnv); keys != "" {
		acfg.AllowEnv = strings.Split(keys, ",")
	}
	if m := os.Getenv(envMax); m != "" {
		if acfg.MaxActors, err = strconv.Atoi(m); err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: %s: %v\n", envMax, err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err = cluster.Serve(ctx, acfg)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: agent of %s: %v\n", host, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// An AgentOption configures Cluster.Agent.
type AgentOption func(*agentOptions)

type agentOptions struct {
	labels    map[string]string
	maxActors int
	allow     []string
	allowEnv  []string
}

// Labels sets the agent's host labels (cluster.AgentConfig.Labels).
func Labels(l map[string]string) AgentOption { return func(o *agentOptions) { o.labels = l } }

// MaxActors sets the most actors the agent runs at once
// (cluster.AgentConfig.MaxActors).
func MaxActors(n int) AgentOption { return func(o *agentOptions) { o.maxActors = n } }

// AllowActors sets the agent's AgentConfig.Allow: it spawns actors of
// these names only (any by default).
func AllowActors(names ...string) AgentOption {
	return func(o *agentOptions) { o.allow = names }
}

// AllowEnv sets the agent's AgentConfig.AllowEnv: the environment
// variables callers may set (none by default).
func AllowEnv(keys ...string) AgentOption { return func(o *agentOptions) { o.allowEnv = keys } }

// An Agent is a host agent process started by [Cluster.Agent].
type Agent struct {
	host string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been waited for
	err  error
}

// PID is the agent process's id.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// Done is closed once the agent process has exited.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Agent starts the agent of host h as a separate process (this test
// binary re-executed: its TestMain must call AgentMain) connected through
// h's fault proxy, and returns once the agent has announced itself, within
// 10 s or t fails. For Core, the agent embeds h's server, and Agent
// returns once its announcement is heard on the server of every core
// agent running. The agent runs the membership watcher. When t ends it
// is stopped (SIGCONT, then SIGTERM: its actors get their ladders) and
// killed if it has not exited within 5 s.
func (tc *Cluster) Agent(t testing.TB, h string, opts ...AgentOption) *Agent {
	t.Helper()
	var o agentOptions
	for _, opt := range opts {
		opt(&o)
	}
	env := append(os.Environ(), tc.AgentEnv(h)...)
	env = append(env, envSys+"="+tc.secretFile(tc.users[embed.SysUser].Seed))
	keys := map[string]string{}
	for name, u := range tc.users {
		keys[name] = u.PublicKey
	}
	kj, err := json.Marshal(keys)
	require.NoError(t, err)
	env = append(env, envKeys+"="+string(kj))
	if !strings.Contains(os.Getenv("GORACE"), "atexit_sleep_ms") {
		// A race-enabled agent otherwise sleeps a second before exiting.
		env = append(env, "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	}
	var labels []string
	for k, v := range o.labels {
		labels = append(labels, k+"="+v)
	}
	env = append(env, envLabels+"="+strings.Join(labels, ","), envMax+"="+strconv.Itoa(o.maxActors),
		envAllow+"="+strings.Join(o.allow, ","), envEnv+"="+strings.Join(o.allowEnv, ","))

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if tc.core != nil {
		return tc.startCoreAgent(ctx, t, h, env)
	}
	// The announcement is awaited on a connection of the harness's own.
	watch, err := cluster.Join(ctx, tc.Config(embed.ClientUser))
	require.NoError(t, err)
	defer watch.Close()
	up := make(chan struct{}, 1)
	sub, err := watch.Conn().Subscribe("grove."+tc.Name()+".ev.hostup."+h, func(*nats.Msg) {
		select {
		case up <- struct{}{}:
		default:
		}
	})
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, watch.Conn().Flush())

	a := tc.exec(t, h, env)
	select {
	case <-up:
	case <-a.done:
		t.Fatalf("clustertest: the agent of %s exited before it announced itself: %v", h, a.err)
	case <-ctx.Done():
		t.Fatalf("clustertest: the agent of %s did not announce itself within %v", h, startTimeout)
	}
	return a
}

// exec starts the agent process of host h with env and registers its stop
// with t.Cleanup.
func (tc *Cluster) exec(t testing.TB, h string, env []string) *Agent {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "clustertest: start the agent of %s", h)
	a := &Agent{host: h, cmd: cmd, done: make(chan struct{})}
	tc.track(a.PID()) // its own group (Setpgid), which its actors share
	go func() { a.err = cmd.Wait(); close(a.done) }()
	tc.mu.Lock()
	tc.agents[h] = a
	tc.mu.Unlock()
	t.Cleanup(func() {
		_ = syscall.Kill(-a.PID(), syscall.SIGCONT)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(agentStop)
		defer timer.Stop()
		select {
		case <-a.done:
		case <-timer.C:
			t.Errorf("clustertest: the agent of %s did not stop within %v of SIGTERM: killed", h, agentStop)
			_ = syscall.Kill(-a.PID(), syscall.SIGKILL)
			<-a.done
		}
		tc.mu.Lock()
		if tc.agents[h] == a {
			delete(tc.agents, h)
		}
		tc.mu.Unlock()
	})
	return a
}

// surveyEvery is how often startCoreAgent asks the agents to announce
// themselves while it waits for one's announcement on a server: the routes
// of a server in another process have no event to wait on.
const surveyEvery = 50 * time.Millisecond

// startCoreAgent starts the core agent of host h and returns once its
// announcement has been heard on its own server and on that of every
// other core agent running (so the routes between them carry messages).
func (tc *Cluster) startCoreAgent(ctx context.Context, t testing.TB, h string, env []string) *Agent {
	t.Helper()
	a := tc.exec(t, h, env)
	var on []string // the hosts whose servers must hear h
	tc.mu.Lock()
	for x, ax := range tc.agents {
		select {
		case <-ax.done:
		default:
			on = append(on, x)
		}
	}
	tc.mu.Unlock()
	for _, x := range on {
		cfg := tc.Config(embed.ClientUser)
		cfg.URLs = []string{"nats://" + tc.core.Core[x].Client}
		watch, err := cluster.Join(ctx, cfg)
		require.NoError(t, err, "clustertest: join the server of core host %s", x)
		err = heard(ctx, watch.Conn(), tc.Name(), h, a)
		watch.Close()
		require.NoError(t, err, "clustertest: the agent of %s, heard on the server of %s", h, x)
	}
	return a
}

// heard surveys the hosts on nc every surveyEvery until host h's
// announcement arrives, a's process exits, or ctx ends.
func heard(ctx context.Context, nc *nats.Conn, name, h string, a *Agent) error {
	sub, err := nc.SubscribeSync("grove." + name + ".ev.hostup." + h)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return err
	}
	for {
		if err := nc.Publish("grove."+name+".ev.survey", nil); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, surveyEvery)
		_, err := sub.NextMsgWithContext(wctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-a.done:
			return fmt.Errorf("it exited before it announced itself: %v", a.err)
		case <-ctx.Done():
			return fmt.Errorf("no announcement within %v", startTimeout)
		default:
		}
	}
}

// agent returns the running agent of host h, or panics.
func (tc *Cluster) agent(h string) *Agent {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	a := tc.agents[h]
	if a == nil {
		panic(fmt.Sprintf("clustertest: no agent of host %q runs: start it with Cluster.Agent", h))
	}
	return a
}

// Kill sends SIGKILL to the agent of host h (a crash: its actors die by
// their death signal) and waits until it has exited.
func (tc *Cluster) Kill(h string) {
	a := tc.agent(h)
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

// Stop sends SIGSTOP to the process group of host h's agent, its actors
// included: a hung host, which answers nothing and closes no connection.
func (tc *Cluster) Stop(h string) { _ = syscall.Kill(-tc.agent(h).PID(), syscall.SIGSTOP) }

// Cont undoes Stop with SIGCONT.
func (tc *Cluster) Cont(h string) { _ = syscall.Kill(-tc.agent(h).PID(), syscall.SIGCONT) }
