package check

import (
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// nginxPorts are the listeners of the test's nginx, all on 127.0.0.1.
type nginxPorts struct {
	plain      netip.AddrPort // HTTP/1
	proxy      netip.AddrPort // HTTP/1 behind "proxy_protocol": a PROXY header is required
	tls        netip.AddrPort // HTTPS, HTTP/1 only
	tlsProxy   netip.AddrPort // HTTPS behind "proxy_protocol"
	h2         netip.AddrPort // HTTPS with HTTP/2 (ALPN h2)
	h2c        netip.AddrPort // HTTP/2 in clear, prior knowledge
	dir        string
	proxyLines int
}

// startNginx runs Debian's nginx (nginx-light) for the test on loopback ports, with what the
// checks below ask of it: /proxied says what the PROXY header said, /method echoes the
// request's method, body length and X-Check header, /secret/ wants Basic authentication
// (user "monitor", password "s3cret"), /health answers "ok" with an X-Role header, /proto
// names the protocol spoken, /conn the connection's number and how many requests it carried.
func startNginx(t *testing.T) nginxPorts {
	t.Helper()
	bin := testenv.RequireTool(t, "nginx")
	dir := t.TempDir()
	cert, _ := selfSignedCert(t, "127.0.0.1")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"cert.pem":              string(certPEM),
		"key.pem":               string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		"htpasswd":              "monitor:{PLAIN}s3cret\n",
		"www/secret/index.html": "welcome\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := func() netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(testenv.FreePort(t, "127.0.0.1", false)))
	}
	n := nginxPorts{plain: port(), proxy: port(), tls: port(), tlsProxy: port(), h2: port(), h2c: port(), dir: dir}
	conf := testenv.NginxConfig(dir, fmt.Sprintf(`  ssl_certificate %[1]s/cert.pem;
  ssl_certificate_key %[1]s/key.pem;
  server {
    listen %[2]s;
    listen %[3]s proxy_protocol;
    listen %[4]s ssl;
    listen %[5]s ssl proxy_protocol;
    listen %[6]s ssl http2;
    listen %[7]s http2;
    root %[1]s/www;
    location = /proxied {
      return 200 "client=$proxy_protocol_addr:$proxy_protocol_port server=$proxy_protocol_server_addr:$proxy_protocol_server_port\n";
    }
    location = /method {
      return 200 "$request_method $content_length $http_x_check\n";
    }
    location = /health {
      add_header X-Role primary always;
      return 200 "ok\n";
    }
    location = /proto {
      return 200 "$server_protocol\n";
    }
    location = /conn {
      return 200 "connection $connection request $connection_requests\n";
    }
    location /secret/ {
      auth_basic "vigil";
      auth_basic_user_file %[1]s/htpasswd;
    }
  }
`, dir, n.plain, n.proxy, n.tls, n.tlsProxy, n.h2, n.h2c))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.StartCmd(t, exec.Command(bin, "-p", dir, "-e", "stderr", "-c", confPath))
	for _, ap := range []netip.AddrPort{n.plain, n.proxy, n.tls, n.tlsProxy, n.h2, n.h2c} {
		testenv.WaitFor(t, 10*time.Second, "nginx listening on "+ap.String(), tcpListening(ap))
	}
	return n
}

// readChecker reads the body of a block of kind with the kind's table and builds the checker of
// target from the options it read, as start does.
func readChecker(t *testing.T, kind Kind, target netip.AddrPort, text string) probe.Checker {
	t.Helper()
	o, kept, msgs := readBlock(t, kind, text, Server{})
	if len(msgs) != 0 || !kept {
		t.Fatalf("%s block %q: kept=%v %q", kind.Name, text, kept, msgs)
	}
	c, err := o.New(Env{Conn: ConnOptions{Addr: target}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkCase is a block of a kind against a server, and what its probe must say.
type checkCase struct {
	name    string
	target  netip.AddrPort
	block   string
	healthy bool
	want    string
}

// kindCase is a checkCase of a kind of its own.
type kindCase struct {
	kind Kind
	checkCase
}

// runCheckCases probes each case's target with the checker its block of kind reads into, both
// ways (runProbe).
func runCheckCases(t *testing.T, kind Kind, cases []checkCase) {
	t.Helper()
	kinds := make([]kindCase, len(cases))
	for i, c := range cases {
		kinds[i] = kindCase{kind, c}
	}
	runKindCases(t, kinds)
}

func runKindCases(t *testing.T, cases []kindCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c := readChecker(t, tt.kind, tt.target, tt.block)
			wantProbe(t, runProbe(t, c, probeDeadline(tt.want)), tt.healthy, tt.want)
		})
	}
}

// h2cServer serves HTTP/2 in clear (prior knowledge) with handler.
func h2cServer(t *testing.T, handler http.HandlerFunc) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h2c.NewHandler(handler, &http2.Server{}), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		srv.Close()
		<-done
	})
	return addrPort(t, ln.Addr())
}

// The PROXY header goes first on the connection and names the check's own address and port and
// the target; nginx behind "listen ... proxy_protocol" refuses a check without it.
func TestSendProxyAgainstNginx(t *testing.T) {
	n := startNginx(t)
	proxied := func(ap netip.AddrPort) string {
		return `regex "(?m)^client=127\.0\.0\.1:[0-9]+ server=127\.0\.0\.1:` + strconv.Itoa(int(ap.Port())) + `$"`
	}
	slow := tricklingHTTPServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n", 2)
	silent := testenv.SilentServer(t)
	tests := []kindCase{
		{HTTPKind, checkCase{"HTTPv1", n.proxy, "send_proxy v1\nurl {\npath /proxied\n" + proxied(n.proxy) + "\n}\n", true, "ok"}},
		{HTTPKind, checkCase{"HTTPv2", n.proxy, "send_proxy v2\nurl {\npath /proxied\n" + proxied(n.proxy) + "\n}\n", true, "ok"}},
		{HTTPKind, checkCase{"HTTPWithoutHeaderIsRefused", n.proxy, "url {\npath /proxied\n}\n", false, "read response: no data received"}},
		{HTTPKind, checkCase{"HTTPHeaderToAPlainListener", n.plain, "send_proxy v1\nurl {\npath /health\n}\n", false, "HTTP status 400"}},
		{SSLKind, checkCase{"SSLv2", n.tlsProxy, "send_proxy v2\nurl {\npath /proxied\n" + proxied(n.tlsProxy) + "\n}\n", true, "ok"}},
		{SSLKind, checkCase{"SSLWithoutHeaderIsRefused", n.tlsProxy, "url {\npath /proxied\n}\n", false, "TLS handshake"}},
		{TCPKind, checkCase{"TCPv1", n.proxy, "send_proxy v1\nsend \"GET /proxied HTTP/1.0\\r\\n\\r\\n\"\nexpect \"200 OK\"\n", true, "dialogue ok (2 steps) after a PROXY v1 header"}},
		{TCPKind, checkCase{"TCPv2", n.proxy, "send_proxy v2\nsend \"GET /proxied HTTP/1.0\\r\\n\\r\\n\"\nexpect_regex \"client=127.0.0.1:[0-9]+\"\n", true, "dialogue ok"}},
		{TCPKind, checkCase{"TCPWithoutHeaderIsRefused", n.proxy, "send \"GET /proxied HTTP/1.0\\r\\n\\r\\n\"\nexpect \"200 OK\"\n", false, `expect "200 OK": connection closed by the server, nothing received`}},
		{TCPKind, checkCase{"TCPHeaderAloneConnects", n.proxy, "send_proxy v2\n", true, "dialogue ok (0 steps) after a PROXY v2 header"}},
		{HTTPKind, checkCase{"SlowServer", slow, "send_proxy v1\nurl {\npath /\n}\n", true, "ok"}},
		{HTTPKind, checkCase{"SilentServer", silent, "send_proxy v2\nurl {\npath /\n}\n", false, "read response: timeout"}},
	}
	runKindCases(t, tests)
}

func TestHTTPRequestShapingAgainstNginx(t *testing.T) {
	n := startNginx(t)
	slow := tricklingHTTPServer(t, "HTTP/1.1 200 OK\r\nX-Role: primary\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n", 1)
	silent := testenv.SilentServer(t)
	const health = "url {\npath /health\n%s\n}\n"
	tests := []checkCase{
		{"MethodBodyAndHeader", n.plain, "url {\npath /method\nmethod POST\nbody \"a=1\\n\"\nheader \"X-Check: vigil\"\nregex \"(?m)^POST 4 vigil$\"\n}\n", true, "ok"},
		{"HTTP11ShapedToo", n.plain, "http_protocol 1.1\nurl {\npath /method\nmethod PUT\nheader \"X-Check: again\"\nregex \"(?m)^PUT  again$\"\n}\n", true, "ok"},
		{"BasicAuthRight", n.plain, "url {\npath /secret/\nusername monitor\npassword s3cret\nregex welcome\n}\n", true, "ok"},
		{"BasicAuthWrong", n.plain, "url {\npath /secret/\nusername monitor\npassword guess\n}\n", false, "HTTP status 401, expected 200-299"},
		{"BasicAuthMissing", n.plain, "url {\npath /secret/\n}\n", false, "HTTP status 401"},
		{"ExpectHeaderRight", n.plain, fmt.Sprintf(health, "expect_header \"X-Role: primary\"\nexpect_header_regex \"Content-Type: ^text/\"\nexpect_header Server"), true, "ok"},
		{"ExpectHeaderWrong", n.plain, fmt.Sprintf(health, "expect_header \"X-Role: replica\""), false, `header "X-Role: replica": the response has "X-Role: primary"`},
		{"ExpectHeaderRegexWrong", n.plain, fmt.Sprintf(health, "expect_header_regex \"X-Role: ^rep\""), false, `header "X-Role: ~^rep": the response has "X-Role: primary"`},
		{"ExpectHeaderMissing", n.plain, fmt.Sprintf(health, "expect_header X-Missing"), false, `header "X-Missing": no such header in the response`},
		{"SlowServerHeadersInPieces", slow, "url {\npath /\nexpect_header \"X-Role: primary\"\n}\n", true, "ok"},
		{"SilentServer", silent, "url {\npath /\nmethod POST\nbody x\n}\n", false, "read response: timeout"},
	}
	runCheckCases(t, HTTPKind, tests)
}

// reuse_connection against a real keep-alive server: each URL and each probe after the first
// is one more request on the first one's connection, with a PROXY header only at its start.
// The connection moves from checker to checker (each expects the next request's number) as it
// stays with one checker between its probes.
func TestReuseConnectionAgainstNginx(t *testing.T) {
	n := startNginx(t)
	for _, tc := range []struct {
		name   string
		target netip.AddrPort
		extra  string
	}{
		{"Plain", n.plain, ""},
		{"BehindProxyProtocol", n.proxy, "send_proxy v2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pool probe.SocketPool
			defer pool.Close()
			url := func(req int) string { return fmt.Sprintf("url {\npath /conn\nregex \"request %d\\n\"\n}\n", req) }
			var kept *probe.Socket
			for _, urls := range []string{url(1) + url(2) + url(3), url(4), url(5)} {
				c := readChecker(t, HTTPKind, tc.target, "http_protocol 1.1\nreuse_connection\n"+tc.extra+urls).(*HTTPChecker)
				if kept != nil {
					c.kept.Keep(kept)
				}
				wantProbe(t, pollProbe(c, &pool, 2*time.Second), true, "ok")
				if kept = c.kept.Take(); kept == nil {
					t.Fatal("the probe kept no connection")
				}
			}
			kept.Close()
		})
	}
}

func TestHTTP2AgainstNginx(t *testing.T) {
	n := startNginx(t)
	slow := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Role", "primary")
		for _, b := range []string{"HTTP/2", ".0", "\n"} {
			_, _ = w.Write([]byte(b))
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	})
	silent := testenv.SilentServer(t)
	tests := []kindCase{
		{SSLKind, checkCase{"OverTLSWithALPN", n.h2, "http_protocol 2\nurl {\npath /proto\nregex \"(?m)^HTTP/2.0$\"\n}\n", true, "ok"}},
		{SSLKind, checkCase{"OverTLSShaped", n.h2, "http_protocol 2\nurl {\npath /secret/\nusername monitor\npassword s3cret\nexpect_header_regex \"Content-Type: html\"\ndigest " + md5Hex("welcome\n") + "\n}\n", true, "ok"}},
		{SSLKind, checkCase{"OverTLSWrongPassword", n.h2, "http_protocol 2\nurl {\npath /secret/\nusername monitor\npassword guess\n}\n", false, "HTTP status 401"}},
		{HTTPKind, checkCase{"H2C", n.h2c, "http_protocol 2\nurl {\npath /method\nmethod POST\nbody abc\nheader \"X-Check: h2c\"\nregex \"(?m)^POST 3 h2c$\"\n}\n", true, "ok"}},
		{SSLKind, checkCase{"TLSServerWithoutH2", n.tls, "http_protocol 2\nurl {\npath /proto\n}\n", false, `TLS handshake: the server chose "http/1.1" over ALPN, not h2`}},
		{HTTPKind, checkCase{"H2CToAnHTTP1Server", n.plain, "http_protocol 2\nurl {\npath /proto\n}\n", false, "read response"}},
		{HTTPKind, checkCase{"SlowServer", slow, "http_protocol 2\nurl {\npath /\nregex \"(?m)^HTTP/2.0$\"\nexpect_header \"X-Role: primary\"\n}\n", true, "ok"}},
		{HTTPKind, checkCase{"SilentServer", silent, "http_protocol 2\nurl {\npath /\n}\n", false, "timeout"}},
	}
	runKindCases(t, tests)
}

// md5Hex is the digest genhash prints for body.
func md5Hex(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}
