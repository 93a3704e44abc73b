package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/grove-rt/grove/cluster/internal/subject"
)

// DefaultDeadInterval is T when Config.DeadInterval is zero: a peer silent
// for T is dead (scaleout design §5.4 rule 4, §5.7).
const DefaultDeadInterval = 5 * time.Second

// ErrNoCredentials is returned by Join for a Config without credentials:
// grove's servers never accept an anonymous client.
var ErrNoCredentials = errors.New("cluster: Config has no credentials: set Config.NKeySeed to the user's nkey seed (\"SU…\"); grove clusters accept no anonymous client")

// ErrAuth is returned by Join, wrapped with the servers' answer, when the
// servers refuse the credentials.
var ErrAuth = errors.New("cluster: the servers refused these credentials")

// Config says how to join a cluster.
type Config struct {
	// Name is the cluster name C, the second token of every grove subject;
	// "grove" if empty. It must match the servers' (embed.Options.Name).
	Name string
	// User is this program's user name ([a-z0-9-]), the one its
	// credentials were issued for (embed.ClientUser, embed.AgentUser(h)):
	// it names the caller in link subjects and the private inbox prefix
	// "_INBOX_<User>" that the servers' permissions allow it.
	User string
	// URLs are the servers' client URLs ("nats://host:4222"); the client
	// connects to one and fails over to the others.
	URLs []string
	// NKeySeed is the user's nkey seed ("SU…"); required. The servers hold
	// only its public key and check a signature of their nonce with it.
	NKeySeed []byte
	// TLS, if set, makes the connection TLS from its first byte (the
	// servers' TLS handshake first); nil for plain TCP.
	TLS *tls.Config
	// DeadInterval is T: the connection pings every T/2 and is declared
	// stale after two unanswered pings; links (natslink) end after T of
	// silence. DefaultDeadInterval if zero.
	DeadInterval time.Duration
}

// withDefaults checks cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Name == "" {
		cfg.Name = subject.Default
	}
	if err := subject.Check("cluster: Config.Name", cfg.Name, subject.MaxName); err != nil {
		return cfg, err
	}
	if len(cfg.NKeySeed) == 0 {
		return cfg, ErrNoCredentials
	}
	if cfg.User == "" {
		return cfg, errors.New("cluster: Config.User is empty: set it to the user name the credentials were issued for (e.g. \"client\")")
	}
	if err := subject.Check("cluster: Config.User", cfg.User, subject.MaxUser); err != nil {
		return cfg, err
	}
	if len(cfg.URLs) == 0 {
		return cfg, errors.New("cluster: Config.URLs is empty: list the servers' client URLs (\"nats://host:4222\")")
	}
	if cfg.DeadInterval == 0 {
		cfg.DeadInterval = DefaultDeadInterval
	}
	if cfg.DeadInterval < 0 {
		return cfg, fmt.Errorf("cluster: Config.DeadInterval is %v: set it to a positive duration, or 0 for %v", cfg.DeadInterval, DefaultDeadInterval)
	}
	return cfg, nil
}
