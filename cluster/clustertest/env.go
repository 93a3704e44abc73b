package clustertest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/grove-rt/grove/cluster"
	"github.com/grove-rt/grove/cluster/embed"
)

// The environment of an agent process (Cluster.AgentEnv): how it finds
// and joins its cluster. Its credentials are not in it (an actor could
// read its parent's /proc/<pid>/environ): the environment names files of
// mode 0600 that the agent reads and removes (cluster.ReadSecret) before
// it serves.
const (
	envName = "GROVE_CLUSTERTEST_NAME"
	envHost = "GROVE_CLUSTERTEST_HOST"
	envUser = "GROVE_CLUSTERTEST_USER"
	envURLs = "GROVE_CLUSTERTEST_URLS"
	envSeed = "GROVE_CLUSTERTEST_SEED_FILE"
	envDead = "GROVE_CLUSTERTEST_DEAD_INTERVAL"
	envCore = "GROVE_CLUSTERTEST_CORE" // a core host's embed.Deployment, JSON
)

// AgentEnv is the environment, as KEY=value entries to append to a
// process's, of the agent of host h: this cluster's ID (which the process
// sweep looks for), its name, the agent's user and nkey seed, the URL of
// the host's fault proxy and the dead interval; for Core, instead of the
// proxy, every server's URL and the Deployment its server is started from.
// It panics if h is not one of the cluster's hosts.
func (tc *Cluster) AgentEnv(h string) []string {
	cfg := tc.Config(tc.agentUser(h))
	var core []string
	if tc.core != nil {
		d, err := json.Marshal(tc.core)
		if err != nil {
			panic(fmt.Sprintf("clustertest: the deployment: %v", err))
		}
		core = []string{envCore + "=" + string(d)}
	}
	return append(core,
		envID+"="+tc.id,
		envName+"="+cfg.Name,
		envHost+"="+h,
		envUser+"="+cfg.User,
		envURLs+"="+strings.Join(cfg.URLs, ","),
		envSeed+"="+tc.secretFile(cfg.NKeySeed),
		envDead+"="+cfg.DeadInterval.String(),
	)
}

// secretFile writes secret to a new file of mode 0600 in the cluster's
// directory (removed with the cluster) and returns its path.
func (tc *Cluster) secretFile(secret []byte) string {
	f, err := os.CreateTemp(tc.dir, "seed-")
	if err == nil {
		_, err = f.Write(secret)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		panic(fmt.Sprintf("clustertest: write a seed file: %v", err))
	}
	return f.Name()
}

// configFromEnv is the agent's side of AgentEnv: its host, its
// cluster.Config and, for a core host, its server's options, read with
// getenv (os.Getenv), or an error if the environment is not an agent's.
func configFromEnv(getenv func(string) string) (host string, cfg cluster.Config, core *embed.ServerOptions, err error) {
	host = getenv(envHost)
	if getenv(envID) == "" || host == "" {
		return "", cfg, nil, fmt.Errorf("clustertest: %s and %s are not set: this process was not started with Cluster.AgentEnv", envID, envHost)
	}
	dead, err := time.ParseDuration(getenv(envDead))
	if err != nil {
		return "", cfg, nil, fmt.Errorf("clustertest: %s: %w", envDead, err)
	}
	if c := getenv(envCore); c != "" {
		core = &embed.ServerOptions{Host: host, DeadInterval: dead, NoAdvertise: true}
		if err := json.Unmarshal([]byte(c), &core.Deployment); err != nil {
			return "", cfg, nil, fmt.Errorf("clustertest: %s: %w", envCore, err)
		}
	}
	seed, err := cluster.ReadSecret(getenv(envSeed))
	if err != nil {
		return "", cfg, nil, fmt.Errorf("clustertest: %s: %w", envSeed, err)
	}
	cfg = cluster.Config{
		Name:         getenv(envName),
		User:         getenv(envUser),
		URLs:         strings.Split(getenv(envURLs), ","),
		NKeySeed:     seed,
		DeadInterval: dead,
	}
	return host, cfg, core, nil
}
