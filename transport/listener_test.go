//go:build unix

package transport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/grove-rt/grove/transport"
)

var secret = []byte("0123456789abcdef-test-secret")

// rejects collects the errors a listener reports for dropped connections.
type rejects struct {
	mu   sync.Mutex
	errs []error
	seen chan struct{}
}

func newRejects() *rejects { return &rejects{seen: make(chan struct{}, 100)} }

func (r *rejects) hook(_ net.Addr, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.seen <- struct{}{}
}

// wait waits for the next rejection and returns it.
func (r *rejects) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection was rejected")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs[len(r.errs)-1]
}

// serveListener accepts connections on l and answers calls with echo.
func serveListener(t *testing.T, l *transport.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			stop := serve(c, echo)
			wg.Go(func() {
				<-ctx.Done()
				c.Close()
				stop()
			})
		}
	})
	t.Cleanup(func() {
		cancel()
		l.Close()
		wg.Wait()
	})
}

func callEcho(t *testing.T, c *transport.Conn) {
	t.Helper()
	s, err := c.Call(context.Background(), "echo", point{7, 7, "ok"})
	require.NoError(t, err)
	m, err := s.Recv(context.Background())
	require.NoError(t, err)
	var p point
	require.NoError(t, m.Decode(&p))
	require.Equal(t, point{7, 7, "ok"}, p)
}

func TestUnixListener(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sock", "grove.sock")
	r := newRejects()
	l, err := transport.ListenUnix(path, transport.WithRejectHook(r.hook),
		transport.WithHandshakeTimeout(200*time.Millisecond))
	require.NoError(t, err)
	serveListener(t, l)
	fi, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "the socket's directory is private")

	ctx := context.Background()
	silent, err := net.Dial("unix", path) // holds a handshake open
	require.NoError(t, err)
	defer silent.Close()

	c, err := transport.DialUnix(ctx, path)
	require.NoError(t, err, "a good client is served while another one is silent")
	defer c.Close()
	callEcho(t, c)

	err = r.wait(t)
	require.ErrorIs(t, err, transport.ErrHandshake, "the silent client is dropped")
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	garbage, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer garbage.Close()
	_, err = garbage.Write([]byte("\x00\x01garbage garbage garbage"))
	require.NoError(t, err)
	err = r.wait(t)
	require.ErrorContains(t, err, "the peer is not grove")

	c2, err := transport.DialUnix(ctx, path)
	require.NoError(t, err, "the listener keeps serving")
	defer c2.Close()
	callEcho(t, c2)
}

func TestUnixListenerRefusesAnOpenDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	_, err := transport.ListenUnix(filepath.Join(dir, "grove.sock"))
	require.ErrorContains(t, err, "must be private")
}

func TestUnixListenerReplacesAStaleSocket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "private", "grove.sock")
	l, err := transport.ListenUnix(path) // creates the private directory
	require.NoError(t, err)
	require.NoError(t, l.Close())
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // a dead listener's socket file stays behind

	l, err = transport.ListenUnix(path)
	require.NoError(t, err)
	_, err = transport.ListenUnix(path)
	require.ErrorContains(t, err, "already serving", "a live listener is never replaced")
	require.NoError(t, l.Close())
}

func TestTCPAuthentication(t *testing.T) {
	t.Parallel()
	r := newRejects()
	l, err := transport.ListenTCP("127.0.0.1:0", transport.WithSecret(secret), transport.WithRejectHook(r.hook))
	require.NoError(t, err)
	serveListener(t, l)
	addr := l.Addr().String()
	ctx := context.Background()

	_, err = transport.DialTCP(ctx, addr, transport.WithSecret([]byte("a-wrong-secret-of-enough-length")))
	require.ErrorIs(t, err, transport.ErrAuth, "the dialer learns it was refused")
	require.ErrorIs(t, r.wait(t), transport.ErrAuth, "the listener rejects the wrong secret")

	// A client that skips authentication and sends a Call straight away
	// is rejected before the Call is read.
	plain, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	out, err := transport.AppendFrame([]byte(transport.Preface), &transport.Message{Kind: transport.KindCall, ID: 1, Func: "echo"})
	require.NoError(t, err)
	_, _ = plain.Write(out)
	_ = plain.(*net.TCPConn).CloseWrite() // the Call is all it sends
	err = r.wait(t)
	require.ErrorIs(t, err, transport.ErrHandshake)
	require.ErrorContains(t, err, "challenge", "it was dropped while authentication was pending")
	plain.Close()

	c, err := transport.DialTCP(ctx, addr, transport.WithSecret(secret))
	require.NoError(t, err)
	defer c.Close()
	callEcho(t, c)
}

func TestTCPNeedsASecret(t *testing.T) {
	t.Parallel()
	_, err := transport.ListenTCP("127.0.0.1:0")
	require.ErrorContains(t, err, "shared secret")
	_, err = transport.DialTCP(context.Background(), "127.0.0.1:1", transport.WithSecret([]byte("short")))
	require.ErrorContains(t, err, "shared secret")
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate.
type testPKI struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "grove test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	leaf := func(serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "grove test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{pool: pool, server: leaf(2, x509.ExtKeyUsageServerAuth), client: leaf(3, x509.ExtKeyUsageClientAuth)}
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	pki := newPKI(t)
	r := newRejects()
	l, err := transport.ListenTCP("127.0.0.1:0", transport.WithSecret(secret), transport.WithRejectHook(r.hook),
		transport.WithTLS(&tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, MinVersion: tls.VersionTLS13}))
	require.NoError(t, err)
	serveListener(t, l)
	addr := l.Addr().String()
	ctx := context.Background()

	noCert := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS13}
	_, err = transport.DialTCP(ctx, addr, transport.WithSecret(secret), transport.WithTLS(noCert))
	require.ErrorIs(t, err, transport.ErrHandshake, "the client learns it was refused")
	require.ErrorContains(t, err, "certificate")
	serverErr := r.wait(t)
	require.ErrorIs(t, serverErr, transport.ErrAuth, "a client without a certificate is rejected")

	withCert := &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}, MinVersion: tls.VersionTLS13}
	c, err := transport.DialTCP(ctx, addr, transport.WithSecret(secret), transport.WithTLS(withCert))
	require.NoError(t, err)
	defer c.Close()
	callEcho(t, c)
}

func TestMutualTLSNeedsClientCAs(t *testing.T) {
	t.Parallel()
	_, err := transport.ListenTCP("127.0.0.1:0", transport.WithSecret(secret), transport.WithTLS(&tls.Config{}))
	require.ErrorContains(t, err, "ClientCAs")
}
