package check

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

const httpTestBody = "hello vigil, the backend is fine\n"

// httpTestHandler serves the paths the HTTP checker tests probe.
func httpTestHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, httpTestBody)
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d\n", code)
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Host)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "late\n")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("endless ", 4096))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5000")
		fmt.Fprint(w, strings.Repeat("x", 5000))
	})
	mux.HandleFunc("/flushed", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: HTTP/1.0 gets a body ended by close, HTTP/1.1 a chunked one.
		for i := range 5 {
			fmt.Fprintf(w, "part %d of a flushed body\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Long", strings.Repeat("h", 20<<10))
		fmt.Fprint(w, "ok")
	})
	return mux
}

// startHTTPTestServer serves httpTestHandler on loopback; with TLS it uses cert and records the
// SNI names clients send.
func startHTTPTestServer(t testing.TB, cert *tls.Certificate) (netip.AddrPort, *sniLog) {
	srv := httptest.NewUnstartedServer(httpTestHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	snis := &sniLog{}
	if cert != nil {
		srv.TLS = &tls.Config{
			Certificates: []tls.Certificate{*cert},
			GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				snis.add(h.ServerName)
				return nil, nil
			},
		}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap, snis
}

// sniLog records the server names TLS clients asked for.
type sniLog struct {
	mu    sync.Mutex
	names []string
}

func (l *sniLog) add(n string) { l.mu.Lock(); l.names = append(l.names, n); l.mu.Unlock() }
func (l *sniLog) reset()       { l.mu.Lock(); l.names = nil; l.mu.Unlock() }
func (l *sniLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.names) == 0 {
		return "<none>"
	}
	return l.names[len(l.names)-1]
}

// genhashDigest runs Keepalived's genhash against a loopback server and returns the digest it
// prints. It skips the test when genhash is absent, except under CI.
func genhashDigest(t *testing.T, ap netip.AddrPort, path string, args ...string) string {
	t.Helper()
	bin := testenv.RequireTool(t, "genhash") // from keepalived
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := append([]string{"-s", ap.Addr().String(), "-p", strconv.Itoa(int(ap.Port())), "-u", path}, args...)
	out, err := exec.CommandContext(ctx, bin, argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("genhash %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if len(line) == 32 {
			if _, err := hex.DecodeString(line); err == nil {
				return line
			}
		}
	}
	t.Fatalf("genhash %s printed no digest:\n%s", strings.Join(argv, " "), out)
	return ""
}

func mustHTTP(t testing.TB, o HTTPOptions) *HTTPChecker {
	t.Helper()
	c, err := NewHTTP(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHTTPGet(t *testing.T) {
	ap, _ := startHTTPTestServer(t, nil)
	sum := md5.Sum([]byte(httpTestBody))
	okDigest := hex.EncodeToString(sum[:])
	re := func(s string) *Regexp { return &Regexp{regexp.MustCompile(s)} }
	bodyAt := strings.Index(httpTestBody, "backend")

	tests := []struct {
		name    string
		opts    HTTPOptions
		healthy bool
		reason  string
	}{
		{"StatusInDefaultRangePasses", HTTPOptions{URLs: []URL{{Path: "/ok"}}}, true, "ok"},
		{"Status503FailsByDefault", HTTPOptions{URLs: []URL{{Path: "/status/503"}}}, false, "HTTP status 503, expected 200-299"},
		{"Status503PassesWhenListed", HTTPOptions{URLs: []URL{{Path: "/status/503", StatusCodes: []StatusRange{{500, 599}}}}}, true, "ok"},
		{"StatusInSecondRangePasses", HTTPOptions{URLs: []URL{{Path: "/status/404", StatusCodes: []StatusRange{{200, 200}, {400, 499}}}}}, true, "ok"},
		{"Status200FailsWhenOnly404Listed", HTTPOptions{URLs: []URL{{Path: "/ok", StatusCodes: []StatusRange{{404, 404}}}}}, false, "expected 404"},
		{"RightDigestPasses", HTTPOptions{URLs: []URL{{Path: "/ok", Digest: okDigest}}}, true, "ok"},
		{"UppercaseDigestPasses", HTTPOptions{URLs: []URL{{Path: "/ok", Digest: strings.ToUpper(okDigest)}}}, true, "ok"},
		{"WrongDigestFails", HTTPOptions{URLs: []URL{{Path: "/ok", Digest: strings.Repeat("0", 32)}}}, false, "MD5 digest " + okDigest},
		{"RegexMatchPasses", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`back\w+`)}}}, true, "ok"},
		{"RegexMissFails", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`^broken`)}}}, false, "does not match regex"},
		{"RegexNoMatchFailsOnMatch", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`fine`), RegexNoMatch: true}}}, false, "regex_no_match"},
		{"RegexNoMatchPassesOnMiss", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`broken`), RegexNoMatch: true}}}, true, "ok"},
		{"RegexMinOffsetPastMatchFails", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`hello`), RegexMinOffset: 3}}}, false, "does not match"},
		{"RegexMinOffsetBeforeMatchPasses", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`backend`), RegexMinOffset: bodyAt}}}, true, "ok"},
		{"RegexMaxOffsetBeforeMatchFails", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`backend`), RegexMaxOffset: bodyAt - 1, RegexMaxOffsetSet: true}}}, false, "does not match"},
		{"RegexMaxOffsetAtMatchPasses", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`backend`), RegexMaxOffset: bodyAt, RegexMaxOffsetSet: true}}}, true, "ok"},
		{"RegexMinBeyondMaxDropsBothLikeKeepalived", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`hello`), RegexMinOffset: 10, RegexMaxOffset: 5, RegexMaxOffsetSet: true}}}, true, "ok"},
		{"RegexMaxOffsetZeroMatchesOnlyAtStart", HTTPOptions{URLs: []URL{{Path: "/ok", Regex: re(`hello`), RegexMaxOffsetSet: true}}}, true, "ok"},
		{"HostDefaultsToTargetAddress", HTTPOptions{URLs: []URL{{Path: "/host", Regex: re(`^` + regexp.QuoteMeta(ap.String()) + `$`)}}}, true, "ok"},
		{"CheckerVirtualHostIsSent", HTTPOptions{VirtualHost: "www.example.test", URLs: []URL{{Path: "/host", Regex: re(`^www\.example\.test$`)}}}, true, "ok"},
		{"URLVirtualHostOverridesChecker", HTTPOptions{VirtualHost: "www.example.test", URLs: []URL{{Path: "/host", VirtualHost: "api.example.test", Regex: re(`^api\.example\.test$`)}}}, true, "ok"},
		{"EveryURLMustPass", HTTPOptions{URLs: []URL{{Path: "/ok"}, {Path: "/status/500"}}}, false, "url /status/500: HTTP status 500"},
		{"AllURLsPass", HTTPOptions{URLs: []URL{{Path: "/ok"}, {Path: "/host"}}}, true, "2 urls ok"},
		{"Protocol11Passes", HTTPOptions{Protocol: HTTP11, URLs: []URL{{Path: "/flushed", Regex: re(`part 4`)}}}, true, "ok"},
		{"Protocol10ClosePasses", HTTPOptions{Protocol: HTTP10Close, URLs: []URL{{Path: "/ok", Digest: okDigest}}}, true, "ok"},
		{"SlowServerTimesOut", HTTPOptions{URLs: []URL{{Path: "/slow"}}}, false, "timeout"},
		{"EndlessBodyIsCut", HTTPOptions{URLs: []URL{{Path: "/stream"}}}, false, "exceeds 1048576 bytes"},
		{"BodyOverMaxResponseIsCut", HTTPOptions{MaxResponse: 1000, URLs: []URL{{Path: "/big"}}}, false, "exceeds 1000 bytes"},
		{"HugeHeaderIsCut", HTTPOptions{URLs: []URL{{Path: "/header"}}}, false, "header exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts
			o.Addr = ap
			wantProbe(t, runProbe(t, mustHTTP(t, o), probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

// rawHTTPServer answers every connection with resp, then closes it.
func rawHTTPServer(t *testing.T, resp string) netip.AddrPort {
	t.Helper()
	return tricklingHTTPServer(t, resp, len(resp))
}

// tricklingHTTPServer answers every connection with resp in pieces of chunk bytes, a
// millisecond apart, so that the checker reads it over many reads; then it closes.
func tricklingHTTPServer(t *testing.T, resp string, chunk int) netip.AddrPort {
	t.Helper()
	return testenv.ServeTCP(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		readRequestHead(bufio.NewReader(c))
		for p := []byte(resp); len(p) > 0; {
			n := min(chunk, len(p))
			if _, err := c.Write(p[:n]); err != nil {
				return
			}
			p = p[n:]
			if len(p) > 0 {
				time.Sleep(time.Millisecond)
			}
		}
	})
}

// readRequestHead reads a request's lines up to the blank one and returns them.
func readRequestHead(r *bufio.Reader) string {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || line == "\r\n" {
			return b.String()
		}
	}
}

func TestHTTPGetAgainstOddServers(t *testing.T) {
	tests := []struct {
		name    string
		addr    netip.AddrPort
		healthy bool
		reason  string
	}{
		{"ClosedPortIsRefused", closedTCPPort(t), false, "connect: connection refused"},
		{"SilentServerTimesOut", testenv.SilentServer(t), false, "timeout"},
		{"EmptyResponseFails", rawHTTPServer(t, ""), false, "no data received"},
		{"NotHTTPFails", rawHTTPServer(t, "SSH-2.0-OpenSSH\r\n\r\n"), false, "no HTTP status"},
		{"HeaderCutByCloseFails", rawHTTPServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n"), false, "inside the header"},
		{"StatusWithoutReasonPasses", rawHTTPServer(t, "HTTP/1.0 200\r\n\r\nbody"), true, "ok"},
		{"BodyShorterThanContentLengthPasses", rawHTTPServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 50\r\n\r\nshort"), true, "ok"},
		{"ResponseInPiecesPasses", tricklingHTTPServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 9\r\nX-Padding: abcdefgh\r\n\r\nall there", 3), true, "ok"},
		{"StatusInPiecesIsRead", tricklingHTTPServer(t, "HTTP/1.0 503 Busy\r\n\r\n", 2), false, "HTTP status 503"},
		{"HeaderCutInPiecesFails", tricklingHTTPServer(t, "HTTP/1.0 200 OK\r\nServer: x\r\n", 4), false, "inside the header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: tc.addr}, URLs: []URL{{Path: "/"}}})
			wantProbe(t, runProbe(t, c, probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

func TestHTTPRequestIsKeepalivedsOwn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	reqs := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reqs <- readRequestHead(bufio.NewReader(c))
			_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n"))
			c.Close()
		}
	}()
	ap := addrPort(t, ln.Addr())
	tests := []struct {
		proto HTTPProtocol
		vhost string
		want  string
	}{
		{HTTP10, "", "GET /p?q=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: " + ap.String() + "\r\n\r\n"},
		{HTTP10Close, "v.example", "GET /p?q=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: v.example\r\n\r\n"},
		{HTTP11, "", "GET /p?q=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: " + ap.String() + "\r\n\r\n"},
	}
	for _, tc := range tests {
		c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, Protocol: tc.proto, VirtualHost: tc.vhost, URLs: []URL{{Path: "/p?q=1"}}})
		wantProbe(t, runProbe(t, c, time.Second), true, "ok")
		// One request per way of running the probe (runProbe), each answered after it was sent.
		for n := 0; ; n++ {
			select {
			case got := <-reqs:
				if got != tc.want {
					t.Errorf("protocol %s: request\n%q\nwant\n%q", tc.proto, got, tc.want)
				}
				continue
			default:
				if n == 0 {
					t.Errorf("protocol %s: no request reached the server", tc.proto)
				}
			}
			break
		}
	}
	v6 := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: netip.MustParseAddrPort("[2001:db8::1]:8080")}, URLs: []URL{{Path: "/"}}})
	if got := string(v6.urls[0].request); !strings.Contains(got, "Host: [2001:db8::1]:8080\r\n") {
		t.Errorf("IPv6 target: request %q lacks a bracketed Host", got)
	}
}

func TestHTTPDigestMatchesGenhash(t *testing.T) {
	ap, _ := startHTTPTestServer(t, nil)
	tests := []struct {
		name  string
		path  string
		proto HTTPProtocol
		flag  []string
	}{
		{"ContentLengthBody", "/ok", HTTP10, nil},
		{"BodyEndedByClose", "/flushed", HTTP10, nil},
		{"ChunkedBodyHashedRaw", "/flushed", HTTP11, []string{"-P", "1.1"}},
		{"ErrorStatusBody", "/status/404", HTTP10Close, []string{"-P", "1.0c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := genhashDigest(t, ap, tc.path, tc.flag...)
			if tc.proto == HTTP11 {
				// The point of this case: the hash covers the chunk framing, not the decoded body.
				resp, err := http.Get("http://" + ap.String() + tc.path)
				if err != nil {
					t.Fatal(err)
				}
				decoded, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if sum := md5.Sum(decoded); hex.EncodeToString(sum[:]) == want || len(resp.TransferEncoding) == 0 {
					t.Fatalf("server did not chunk %s (transfer encoding %v): the case tests nothing", tc.path, resp.TransferEncoding)
				}
			}
			c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, Protocol: tc.proto,
				URLs: []URL{{Path: tc.path, Digest: want, StatusCodes: []StatusRange{{100, 599}}}}})
			wantProbe(t, runProbe(t, c, 2*time.Second), true, "ok")
		})
	}
}

func TestSSLGet(t *testing.T) {
	cert, pool := selfSignedCert(t, "backend.example.test")
	ap, snis := startHTTPTestServer(t, &cert)
	_, otherPool := selfSignedCert(t, "other.example.test")

	tests := []struct {
		name    string
		tls     TLSOptions
		healthy bool
		reason  string
		sni     string
	}{
		{"UnverifiedByDefaultLikeKeepalived", TLSOptions{}, true, "ok", ""},
		{"SNISentWhenEnabled", TLSOptions{ServerName: "backend.example.test"}, true, "ok", "backend.example.test"},
		{"VerifiedWithTrustedRootAndName", TLSOptions{ServerName: "backend.example.test", Verify: true, RootCAs: pool}, true, "ok", "backend.example.test"},
		{"VerifyFailsOnWrongName", TLSOptions{ServerName: "wrong.example.test", Verify: true, RootCAs: pool}, false, "TLS handshake", "wrong.example.test"},
		{"VerifyFailsOnUntrustedRoot", TLSOptions{ServerName: "backend.example.test", Verify: true, RootCAs: otherPool}, false, "TLS handshake", "backend.example.test"},
		{"VerifyFailsOnIPWithoutSAN", TLSOptions{Verify: true, RootCAs: pool}, false, "TLS handshake", ""},
		{"TLSCompliantPasses", TLSOptions{Compliant: true}, true, "ok", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snis.reset()
			o := tc.tls
			c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, TLS: &o, URLs: []URL{{Path: "/ok"}}})
			if c.Kind() != "SSL_GET" {
				t.Errorf("kind %q", c.Kind())
			}
			wantProbe(t, runProbe(t, c, 2*time.Second), tc.healthy, tc.reason)
			if got := snis.last(); got != tc.sni {
				t.Errorf("server saw SNI %q, want %q", got, tc.sni)
			}
		})
	}

	t.Run("DigestMatchesGenhash", func(t *testing.T) {
		want := genhashDigest(t, ap, "/ok", "-S")
		c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, TLS: &TLSOptions{}, URLs: []URL{{Path: "/ok", Digest: want}}})
		wantProbe(t, runProbe(t, c, 2*time.Second), true, "ok")
	})
	t.Run("PlainHTTPServerFailsHandshake", func(t *testing.T) {
		plain, _ := startHTTPTestServer(t, nil)
		c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: plain}, TLS: &TLSOptions{}, URLs: []URL{{Path: "/ok"}}})
		wantProbe(t, runProbe(t, c, 2*time.Second), false, "TLS handshake")
	})
	t.Run("SilentServerTimesOutInHandshake", func(t *testing.T) {
		c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: testenv.SilentServer(t)}, TLS: &TLSOptions{}, URLs: []URL{{Path: "/ok"}}})
		wantProbe(t, runProbe(t, c, probeTimeout), false, "TLS handshake: timeout")
	})
}

func TestNewHTTPRejectsBadURLs(t *testing.T) {
	ap := netip.MustParseAddrPort("192.0.2.10:80")
	tests := []struct {
		name string
		urls []URL
		want string
	}{
		{"NoURL", nil, "no url"},
		{"EmptyPath", []URL{{}}, "empty path"},
		{"ShortDigest", []URL{{Path: "/", Digest: "abc"}}, "32 hex digits"},
		{"NonHexDigest", []URL{{Path: "/", Digest: strings.Repeat("g", 32)}}, "32 hex digits"},
		{"StatusBelow100", []URL{{Path: "/", StatusCodes: []StatusRange{{99, 200}}}}, "100-599"},
		{"StatusRangeInverted", []URL{{Path: "/", StatusCodes: []StatusRange{{300, 200}}}}, "100-599"},
		{"PathWithLineBreak", []URL{{Path: "/\r\nX-Injected: 1"}}, "line break"},
		{"VirtualHostWithLineBreak", []URL{{Path: "/", VirtualHost: "a\nb"}}, "line break"},
		{"NegativeRegexOffset", []URL{{Path: "/", Regex: &Regexp{regexp.MustCompile("a")}, RegexMinOffset: -1}}, "negative regex offset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHTTP(HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, URLs: tc.urls})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewHTTP error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestHTTPKeyDistinguishesProbes(t *testing.T) {
	ap := netip.MustParseAddrPort("192.0.2.10:80")
	base := HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/"}}}
	variants := map[string]HTTPOptions{
		"base":   base,
		"path":   {ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/x"}}},
		"status": {ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/", StatusCodes: []StatusRange{{200, 200}}}}},
		"digest": {ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/", Digest: strings.Repeat("a", 32)}}},
		"regex":  {ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/", Regex: &Regexp{regexp.MustCompile("a")}}}},
		"proto":  {ConnOptions: ConnOptions{Addr: ap}, Protocol: HTTP11, URLs: []URL{{Path: "/"}}},
		"vhost":  {ConnOptions: ConnOptions{Addr: ap}, VirtualHost: "h", URLs: []URL{{Path: "/"}}},
		"tls":    {ConnOptions: ConnOptions{Addr: ap}, TLS: &TLSOptions{}, URLs: []URL{{Path: "/"}}},
		"tlsc":   {ConnOptions: ConnOptions{Addr: ap}, TLS: &TLSOptions{Compliant: true}, URLs: []URL{{Path: "/"}}},
		"mark":   {ConnOptions: ConnOptions{Addr: ap, Fwmark: 1}, URLs: []URL{{Path: "/"}}},
	}
	seen := map[string]string{}
	for name, o := range variants {
		k := mustHTTP(t, o).Key()
		if other, dup := seen[k]; dup {
			t.Errorf("%s and %s share key %q", name, other, k)
		}
		seen[k] = name
	}
	if a, b := mustHTTP(t, base).Key(), mustHTTP(t, base).Key(); a != b {
		t.Errorf("same options, different keys: %q, %q", a, b)
	}
}

func TestTLSKeyIsStableAcrossReloads(t *testing.T) {
	cert, _ := selfSignedCert(t, "a.example.test")
	other, _ := selfSignedCert(t, "b.example.test")
	pool := func(c tls.Certificate) *x509.CertPool { p := x509.NewCertPool(); p.AddCert(c.Leaf); return p }
	key := func(o TLSOptions) string {
		return mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: netip.MustParseAddrPort("192.0.2.10:443")}, TLS: &o, URLs: []URL{{Path: "/"}}}).Key()
	}
	first := key(TLSOptions{Verify: true, RootCAs: pool(cert), Certificates: []tls.Certificate{cert}})
	reloaded := key(TLSOptions{Verify: true, RootCAs: pool(cert), Certificates: []tls.Certificate{cert}})
	if first != reloaded {
		t.Errorf("the same CA and certificate loaded twice give keys %q and %q", first, reloaded)
	}
	for _, o := range []TLSOptions{
		{Verify: true, RootCAs: pool(other), Certificates: []tls.Certificate{cert}},
		{Verify: true, RootCAs: pool(cert), Certificates: []tls.Certificate{other}},
		{Verify: true, RootCAs: pool(cert)},
		{Verify: true},
	} {
		if k := key(o); k == first {
			t.Errorf("different TLS material, same key %q", k)
		}
	}
}

func BenchmarkHTTPCheckLoopback(b *testing.B) {
	ap, _ := startHTTPTestServer(b, nil)
	sum := md5.Sum([]byte(httpTestBody))
	c := mustHTTP(b, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/ok", Digest: hex.EncodeToString(sum[:])}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Check(ctx); !r.Healthy {
			b.Fatal(r.Reason)
		}
	}
}

// BenchmarkHTTPCheckProbe runs one HTTP_GET probe of VIGIL_BENCH_HTTP_TARGET (a server in
// another process answering 200), or of a server in this process.
func BenchmarkHTTPCheckProbe(b *testing.B) {
	ap := netip.AddrPort{}
	if v := os.Getenv("VIGIL_BENCH_HTTP_TARGET"); v != "" {
		ap = netip.MustParseAddrPort(v)
	} else {
		srv := httptest.NewServer(httpTestHandler())
		b.Cleanup(srv.Close)
		ap = netip.MustParseAddrPort(srv.Listener.Addr().String())
	}
	c, err := NewHTTP(HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, URLs: []URL{{Path: "/health", StatusCodes: []StatusRange{{200, 200}}}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	cpu0 := testenv.CPUTime()
	for b.Loop() {
		if r := c.Check(ctx); !r.Healthy {
			b.Fatal(r.Reason)
		}
	}
	b.ReportMetric(float64((testenv.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func TestSSLGetClosesAsToldByTLSCompliant(t *testing.T) {
	cert, _ := selfSignedCert(t, "127.0.0.1")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ends := make(chan error, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound, not a rate: loaded CI took >3 s
				r := bufio.NewReader(c)
				readRequestHead(r)
				_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				_, err := r.ReadByte() // what the client ends with: close_notify is a clean EOF
				ends <- err
			}()
		}
	}()
	ap := addrPort(t, ln.Addr())
	tests := []struct {
		compliant bool
		cleanEOF  bool
	}{
		{compliant: true, cleanEOF: true},
		{compliant: false, cleanEOF: false},
	}
	for _, tc := range tests {
		c := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: ap}, TLS: &TLSOptions{Compliant: tc.compliant}, URLs: []URL{{Path: "/"}}})
		wantProbe(t, runProbe(t, c, 2*time.Second), true, "ok")
		select {
		case err := <-ends:
			if got := errors.Is(err, io.EOF); got != tc.cleanEOF {
				t.Errorf("tls_compliant %t: server read ended with %v; clean EOF %t, want %t", tc.compliant, err, got, tc.cleanEOF)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("server saw no end of connection")
		}
	}
}

// TestHTTPProbeWhoseAnswerCameAlreadyEndsWithoutThePoller: the scheduler's loop reads an answer
// that is waiting once its batch is sent (Ready with EPOLLIN, for a probe that waits to read),
// and the probe ends there; one that is not there yet is left for the poller, unchanged.
func TestHTTPProbeWhoseAnswerCameAlreadyEndsWithoutThePoller(t *testing.T) {
	buf := make([]byte, maxHTTPHeader)
	answering := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: rawHTTPServer(t, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")}, URLs: []URL{{Path: "/"}}})
	p, res, done := answering.StartProbe(nil, time.Now())
	if done {
		t.Fatalf("the probe ended before its answer could come: %+v", res)
	}
	h := p.(*httpPending)
	pfd := []unix.PollFd{{Fd: int32(h.sock.FD()), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
		t.Fatalf("no answer within 5s: %d %v", n, err)
	}
	if _, ev := p.Wait(); ev&unix.EPOLLIN == 0 {
		t.Fatalf("a probe whose request is sent waits for events %#x, not to read", ev)
	}
	res, done = p.Ready(unix.EPOLLIN, buf)
	if !done {
		t.Fatal("an answer that had come was not read")
	}
	wantProbe(t, res, true, "url /: ok")
	if h.sock.FD() != -1 {
		t.Error("the probe's socket was left open")
	}

	silent := mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: testenv.SilentServer(t)}, URLs: []URL{{Path: "/"}}})
	p, res, done = silent.StartProbe(nil, time.Now())
	if done {
		t.Fatalf("the probe of a silent server ended at once: %+v", res)
	}
	h = p.(*httpPending)
	defer h.sock.Close()
	if _, done = p.Ready(unix.EPOLLIN, buf); done || !h.receiving || h.sock.FD() < 0 {
		t.Errorf("a probe with no answer yet: done %t, receiving %t, fd %d; want it left waiting", done, h.receiving, h.sock.FD())
	}
}

// readHTTP reads the body of an HTTP_GET (or SSL_GET) block with the kind's table.
func readHTTP(t *testing.T, kind Kind, text string) (*HTTPOptions, []string) {
	t.Helper()
	o, _, msgs := readBlock(t, kind, text, Server{})
	return o.(*HTTPOptions), msgs
}

func TestStatusCodeRanges(t *testing.T) {
	tests := []struct {
		line string
		want []StatusRange
	}{
		{"", []StatusRange{{Min: 200, Max: 299}}},
		{"status_code 200", []StatusRange{{200, 200}}},
		{"status_code 200 204 301-303", []StatusRange{{200, 200}, {204, 204}, {301, 303}}},
		{"status_code 100-599", []StatusRange{{100, 599}}},
		{"status_code 300-399 200-299", []StatusRange{{200, 399}}},
		{"status_code 600", []StatusRange{{Min: 200, Max: 299}}},
	}
	for _, tt := range tests {
		o, _ := readHTTP(t, HTTPKind, "url {\npath /\n"+tt.line+"\n}\n")
		if got := o.URLs[0].StatusCodes; !slices.Equal(got, tt.want) {
			t.Errorf("%q: ranges %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestHTTPBlockReadsStraightIntoTheOptions(t *testing.T) {
	o, msgs := readHTTP(t, SSLKind, `  virtualhost www.example.com
  http_protocol 1.0c
  enable_sni
  fast_recovery yes
  tls_compliant
  url {
    path /health
    digest 0123456789ABCDEF0123456789ABCDEF
    virtualhost api.example.com
    regex "ok|up"
    regex_no_match
    regex_options caseless multiline nonsense
    regex_min_offset 2
    regex_max_offset 40
    regex_stack 1000 2000
    tls_compliant false
  }
`)
	if len(msgs) != 0 {
		t.Fatalf("unexpected diagnostics %q", msgs)
	}
	if o.VirtualHost != "www.example.com" || o.Protocol != HTTP10Close || !o.EnableSNI || !o.FastRecovery || !o.TLSCompliant ||
		o.TLS == nil || !o.TLS.Compliant {
		t.Errorf("http options %+v", o)
	}
	u := o.URLs[0]
	if u.Path != "/health" || u.Digest != "0123456789abcdef0123456789abcdef" || u.VirtualHost != "api.example.com" ||
		u.Regex == nil || !u.Regex.MatchString("up") || !u.RegexNoMatch || !slices.Equal(u.RegexOptions, []string{"caseless", "multiline"}) ||
		u.RegexMinOffset != 2 || u.RegexMaxOffset != 40 || !u.RegexMaxOffsetSet || !u.RegexStack || u.TLSCompliant || u.Pos.Line != 7 {
		t.Errorf("url = %+v", u)
	}
	// What the block read is what the checker runs with: it builds as it is.
	if _, err := o.New(Env{Conn: ConnOptions{Addr: netip.MustParseAddrPort("127.0.0.1:80")}}); err != nil {
		t.Errorf("New: %v", err)
	}
}

func TestRegexIsCompiledWhereItIsWritten(t *testing.T) {
	_, msgs := readHTTP(t, HTTPKind, "url {\npath /\nregex \"(?<=a)b\"\n}\n")
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], `4: error: regex "(?<=a)b": error parsing regexp`) {
		t.Errorf("messages %q, want the RE2 error at line 4", msgs)
	}
	o, _ := readHTTP(t, HTTPKind, "url {\npath /\nregex \"a|b\"\n}\n")
	b, err := json.Marshal(o.URLs[0])
	if err != nil || !strings.Contains(string(b), `"regex":"a|b"`) {
		t.Errorf("JSON %s (%v): want the regex as written", b, err)
	}
}

func TestRegexParametersWithoutRegexAreCleared(t *testing.T) {
	o, msgs := readHTTP(t, HTTPKind, "url {\npath /\nregex_min_offset 3\n}\n")
	if want := []string{"5: regex parameters specified without regex"}; !slices.Equal(msgs, want) {
		t.Errorf("messages %q, want %q", msgs, want)
	}
	if u := o.URLs[0]; u.RegexMinOffset != 0 {
		t.Errorf("regex_min_offset kept: %d", u.RegexMinOffset)
	}
	_, msgs = readHTTP(t, HTTPKind, "url {\npath /\nregex x\nregex_min_offset 30\nregex_max_offset 20\n}\n")
	if want := []string{"7: regex min offset 30 > regex_max_offset 20 - ignoring"}; !slices.Equal(msgs, want) {
		t.Errorf("messages %q, want %q", msgs, want)
	}
}
