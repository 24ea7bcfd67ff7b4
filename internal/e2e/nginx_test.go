package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// nginx is a real nginx on two loopback ports, plain HTTP and HTTPS with a self-signed
// certificate, whose /health answers 200 while the file "healthy" exists and 503 otherwise.
type nginx struct {
	proc      *process
	dir       string
	httpAddr  string
	httpsAddr string
}

func startNginx(t *testing.T) *nginx {
	t.Helper()
	bin := testenv.RequireTool(t, "nginx")
	dir := t.TempDir()
	n := &nginx{
		dir:       dir,
		httpAddr:  fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, "127.0.0.1", false)),
		httpsAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, "127.0.0.1", false)),
	}
	writeSelfSigned(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.setHealthy(t, true)
	conf := testenv.NginxConfig(dir, fmt.Sprintf(`  server {
    listen %[2]s;
    listen %[3]s ssl;
    ssl_certificate %[1]s/cert.pem;
    ssl_certificate_key %[1]s/key.pem;
    root %[1]s/www;
    location = /health {
      if (!-f %[1]s/www/healthy) { return 503; }
      return 200 "ok\n";
    }
  }
`, dir, n.httpAddr, n.httpsAddr))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.proc = newProcess(t, bin, "-p", dir, "-e", "stderr", "-c", confPath)
	n.start(t)
	return n
}

func (n *nginx) start(t *testing.T) {
	t.Helper()
	n.proc.start(func() bool { return tcpReady(n.httpAddr)() && tcpReady(n.httpsAddr)() })
}

func (n *nginx) setHealthy(t *testing.T, ok bool) {
	t.Helper()
	path := filepath.Join(n.dir, "www", "healthy")
	var err error
	if ok {
		err = os.WriteFile(path, []byte("1"), 0o644)
	} else {
		err = os.Remove(path)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// writeSelfSigned writes a fresh ECDSA certificate for 127.0.0.1 and its key as PEM files.
func writeSelfSigned(t *testing.T, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "vigil e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPAndSSLGetAgainstNginxRemoveWithinBoundAndReturn checks one nginx two ways: HTTP_GET
// on its plain port and SSL_GET on its TLS port. The health URL turning 503 and then nginx
// stopping each take both out within the removal bound; the repair brings them back, SSL_GET
// after rise 2 successes.
func TestHTTPAndSSLGetAgainstNginxRemoveWithinBoundAndReturn(t *testing.T) {
	t.Parallel()
	n := startNginx(t)
	httpTm := timing{D: 400 * time.Millisecond, R: 1, B: 200 * time.Millisecond, T: time.Second}
	sslTm := timing{D: 400 * time.Millisecond, R: 2, B: 200 * time.Millisecond, T: time.Second, Rise: 2}

	var b strings.Builder
	vsHeader(&b, testenv.FreePort(t, "127.0.0.1", false), "")
	h, p := splitAddr(t, n.httpAddr)
	fmt.Fprintf(&b, `  real_server %s %s {
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 1
      delay_loop 0.4
      retry 1
      delay_before_retry 0.2
    }
  }
}
`, h, p)
	vsHeader(&b, testenv.FreePort(t, "127.0.0.1", false), "")
	h, p = splitAddr(t, n.httpsAddr)
	fmt.Fprintf(&b, `  real_server %s %s {
    rise 2
    SSL_GET {
      url {
        path /health
        digest %s
      }
      connect_timeout 1
      delay_loop 0.4
      retry 2
      delay_before_retry 0.2
    }
  }
}
`, h, p, md5Hex("ok\n")) // nginx's body for a healthy /health
	d := runDaemon(t, loadConfig(t, b.String()))

	checkedUp(t, d, n.httpAddr, 3*time.Second)
	checkedUp(t, d, n.httpsAddr, 3*time.Second)

	n.setHealthy(t, false)
	at := time.Now()
	expectRemoval(t, d, n.httpAddr, httpTm, at, "HTTP_GET: /health turned 503")
	expectRemoval(t, d, n.httpsAddr, sslTm, at, "SSL_GET: /health turned 503")
	n.setHealthy(t, true)
	at = time.Now()
	expectReturn(t, d, n.httpAddr, httpTm, at, "HTTP_GET: /health back to 200")
	expectReturn(t, d, n.httpsAddr, sslTm, at, "SSL_GET: /health back to 200")
	checkedUp(t, d, n.httpAddr, 3*time.Second)
	checkedUp(t, d, n.httpsAddr, 3*time.Second)

	n.proc.stop()
	at = time.Now()
	expectRemoval(t, d, n.httpAddr, httpTm, at, "HTTP_GET: nginx stopped")
	expectRemoval(t, d, n.httpsAddr, sslTm, at, "SSL_GET: nginx stopped")
	n.start(t)
	at = time.Now()
	expectReturn(t, d, n.httpAddr, httpTm, at, "HTTP_GET: nginx restarted")
	expectReturn(t, d, n.httpsAddr, sslTm, at, "SSL_GET: nginx restarted")
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
