package transport_test

import (
	"context"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/grove-rt/grove/transport"
)

// openFDs counts this process's open file descriptors, or returns -1 where
// /proc is missing.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// slowloris keeps n unauthenticated sockets open to addr until ctx ends:
// half sit idle, half trickle the preface and then garbage one byte a
// second. A socket the listener drops is reopened at once, as an attacker
// would, but all of them together open at most rate sockets a second, so
// that the attack cannot turn into a busy loop on the test machine.
// connected is told once each socket has first been opened.
func slowloris(ctx context.Context, addr string, n, rate int, connected *sync.WaitGroup) (wait func()) {
	tokens := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	})
	trickle := []byte(transport.Preface + "garbage garbage garbage garbage garbage")
	for i := range n {
		connected.Add(1)
		wg.Go(func() {
			first := true
			var d net.Dialer
			for {
				select {
				case <-tokens:
				case <-ctx.Done():
					if first {
						connected.Done()
					}
					return
				}
				nc, err := d.DialContext(ctx, "tcp", addr)
				if first {
					connected.Done()
					first = false
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					continue
				}
				stop := context.AfterFunc(ctx, func() { nc.Close() })
				if i%2 == 0 {
					var b [64]byte
					for { // idle: wait until the listener drops us
						if _, err := nc.Read(b[:]); err != nil {
							break
						}
					}
				} else {
					dropped := make(chan struct{})
					go func() {
						defer close(dropped)
						var b [64]byte
						for {
							if _, err := nc.Read(b[:]); err != nil {
								return
							}
						}
					}()
					tick := time.NewTicker(time.Second)
					for k := 0; ; k = (k + 1) % len(trickle) {
						if _, err := nc.Write(trickle[k : k+1]); err != nil {
							break
						}
						select {
						case <-tick.C:
							continue
						case <-dropped:
						}
						break
					}
					tick.Stop()
					nc.Close()
					<-dropped
				}
				stop()
				nc.Close()
			}
		})
	}
	return wg.Wait
}

// TestTCPListenerUnderSlowloris: 500 unauthenticated sockets that sit idle
// or trickle a byte a second, reopened as soon as the listener drops them,
// all from 127.0.0.1, do not lock out a client with the secret dialing
// from the same address: at least 95% of its dials succeed, each within a
// second, and every socket and goroutine is released afterwards.
func TestTCPListenerUnderSlowloris(t *testing.T) {
	const (
		attackers = 500
		rate      = 4000 // sockets the attacker opens per second at most
		dialers   = 4    // legitimate clients dialing at once
		dials     = 8    // each, one every cadence at most
		cadence   = 100 * time.Millisecond
		perDial   = time.Second
	)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fdsBefore := openFDs()

	var rejected atomic.Int64
	saturated := make(chan struct{}) // the listener has dropped 2 sockets per attacker
	l, err := transport.ListenTCP("127.0.0.1:0", transport.WithSecret(secret),
		transport.WithRejectHook(func(net.Addr, error) {
			if rejected.Add(1) == 2*attackers {
				close(saturated)
			}
		}))
	require.NoError(t, err)
	addr := l.Addr().String()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept(context.Background())
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var connected sync.WaitGroup
	wait := slowloris(ctx, addr, attackers, rate, &connected)
	connected.Wait()
	select {
	case <-saturated:
	case <-ctx.Done():
	}
	require.NoError(t, ctx.Err(), "the attack did not start in time")

	var mu sync.Mutex
	var ok []time.Duration
	var failed []error
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			tick := time.NewTicker(cadence)
			defer tick.Stop()
			for range dials {
				<-tick.C
				dctx, dcancel := context.WithTimeout(ctx, perDial)
				start := time.Now()
				c, err := transport.DialTCP(dctx, addr, transport.WithSecret(secret))
				took := time.Since(start)
				dcancel()
				mu.Lock()
				if err == nil {
					c.Close()
					ok = append(ok, took)
				} else {
					failed = append(failed, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	cancel()
	wait()
	require.NoError(t, l.Close())
	<-accepted

	total := dialers * dials
	slices.Sort(ok)
	median := time.Duration(0)
	if len(ok) > 0 {
		median = ok[len(ok)/2]
	}
	t.Logf("%d of %d dials succeeded, median %v, slowest %v; the listener rejected %d sockets",
		len(ok), total, median, slices.Max(append(ok, 0)), rejected.Load())
	require.GreaterOrEqual(t, len(ok)*100, 95*total, "too many dials failed: %v", failed[:min(len(failed), 3)])
	for _, d := range ok {
		require.LessOrEqual(t, d, perDial)
	}
	if fdsBefore >= 0 {
		require.Equal(t, fdsBefore, openFDs(), "every socket is closed")
	}
}
