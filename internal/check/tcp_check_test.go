package check

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
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/clock"
	"github.com/vigil-lb/vigil/internal/probe"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// Helpers shared by the network checkers' tests.

// probeTimeout is the deadline of probes that are expected to time out; late is how much
// past it a checker may return and still count as prompt.
const (
	probeTimeout = 300 * time.Millisecond
	probeLate    = 700 * time.Millisecond
)

// probeDeadline is the deadline for a probe expected to end with reason: short when the probe is
// meant to run out of time (a timeout, or UDP_CHECK's silence that counts as success), generous
// otherwise so that a loaded machine does not turn a quick answer into a timeout.
func probeDeadline(reason string) time.Duration {
	if strings.Contains(reason, "timeout") || strings.Contains(reason, "no reply and no ICMP error") {
		return probeTimeout
	}
	return 5 * time.Second
}

// runProbe runs c.Check under a deadline of d and fails the test if it returns long after it.
func runProbe(t *testing.T, c probe.Checker, d time.Duration) probe.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	r := c.Check(ctx)
	if el := time.Since(start); el > d+probeLate {
		t.Errorf("%s Check returned after %v, deadline was %v", c.Kind(), el, d)
	}
	if r.Weight != -1 {
		t.Errorf("%s Check: weight %d, want -1", c.Kind(), r.Weight)
	}
	if pc, ok := c.(probe.PolledChecker); ok && pc.Pollable() {
		// The scheduler runs this kind without a goroutine: that way must see the same.
		if p := runPolled(t, pc, d).Result; p.Healthy != r.Healthy || p.Reason != r.Reason {
			t.Errorf("%s run by the scheduler's poller: healthy=%t %q; Check: healthy=%t %q", c.Kind(), p.Healthy, p.Reason, r.Healthy, r.Reason)
		}
	}
	return r
}

// runPolled runs one probe of c the way the scheduler runs a PolledChecker: started by its loop
// and finished by its poller, under a timeout of d. The test fails if the scheduler calls c's
// Check instead (on a worker goroutine).
func runPolled(t *testing.T, c probe.PolledChecker, d time.Duration) probe.Report {
	t.Helper()
	reports := make(chan probe.Report, 1)
	s := probe.NewScheduler(clock.Real(), 4, nil, func(r probe.Report) { reports <- r })
	must(t, s.Add(probe.Job{ID: "polled", Checker: pollOnly{c, t}, Interval: time.Hour, Timeout: d, Warmup: -1}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the scheduler's Run did not return within 10s of its context ending")
		}
	}()
	select {
	case r := <-reports:
		if el := time.Since(start); el > d+probeLate {
			t.Errorf("%s run by the poller reported after %v, deadline was %v", c.Kind(), el, d)
		}
		return r
	case <-time.After(d + probeLate + time.Second):
		t.Fatalf("%s run by the poller: no report within %v", c.Kind(), d+probeLate+time.Second)
		return probe.Report{}
	}
}

// pollOnly is a PolledChecker whose Check fails the test: the scheduler must poll it.
type pollOnly struct {
	probe.PolledChecker
	t *testing.T
}

func (c pollOnly) Check(context.Context) probe.Result {
	c.t.Errorf("%s ran on a worker goroutine instead of the scheduler's poller", c.Kind())
	return probe.Result{Weight: -1, Reason: "ran on a worker"}
}

// must fails the test at once on an error that leaves nothing to test.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantProbe checks a result's verdict and that its reason mentions want.
func wantProbe(t *testing.T, r probe.Result, healthy bool, want string) {
	t.Helper()
	if r.Healthy != healthy || !strings.Contains(r.Reason, want) {
		t.Errorf("result healthy=%t reason %q, want healthy=%t and a reason containing %q", r.Healthy, r.Reason, healthy, want)
	}
}

// addrPort turns a net.Addr of a loopback listener into a netip.AddrPort.
func addrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatalf("parse %s: %v", a, err)
	}
	return ap
}

// closedTCPPort returns a loopback address where nothing listens. The port stays bound (but not
// listening) until the test ends, so that no other test's listener can take it meanwhile.
func closedTCPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	return boundPort(t, "127.0.0.1", syscall.SOCK_STREAM)
}

// boundPort binds a socket of type typ to an ephemeral port of ip and keeps it, not listening
// and, for UDP, connected to the discard port, so that the kernel answers a SYN with a reset and
// a datagram with an ICMP port unreachable.
func boundPort(t *testing.T, ip string, typ int) netip.AddrPort {
	t.Helper()
	addr := netip.MustParseAddr(ip)
	var family int
	var sa, peer syscall.Sockaddr
	if addr.Is4() {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Addr: addr.As4()}
		peer = &syscall.SockaddrInet4{Addr: addr.As4(), Port: 9}
	} else {
		family, sa = syscall.AF_INET6, &syscall.SockaddrInet6{Addr: addr.As16()}
		peer = &syscall.SockaddrInet6{Addr: addr.As16(), Port: 9}
	}
	fd, err := syscall.Socket(family, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if typ == syscall.SOCK_DGRAM {
		if err := syscall.Connect(fd, peer); err != nil {
			t.Fatal(err)
		}
	}
	got, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch a := got.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(addr, uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(addr, uint16(a.Port))
	}
	t.Fatalf("getsockname: %T", got)
	return netip.AddrPort{}
}

// stalledTCPAddr returns a loopback address whose listener's accept queue is full, so that a
// new connection's SYN is dropped and connect hangs.
func stalledTCPAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	_, ap, _ := testenv.FullListener(t)
	return ap
}

// selfSignedCert makes a certificate for names (DNS names or IP addresses), valid for an hour.
func selfSignedCert(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// closingTCPListener listens on loopback, accepts every connection and closes it at once.
func closingTCPListener(tb testing.TB) netip.AddrPort {
	tb.Helper()
	return testenv.ServeTCP(tb, func(net.Conn) {})
}

func TestTCPCheck(t *testing.T) {
	open := closingTCPListener(t)

	tests := []struct {
		name    string
		addr    netip.AddrPort
		healthy bool
		reason  string
	}{
		{"ListeningPortIsHealthy", open, true, "connected"},
		{"ClosedPortIsRefused", closedTCPPort(t), false, "connection refused"},
		{"FullAcceptQueueTimesOut", stalledTCPAddr(t), false, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: tc.addr}})
			wantProbe(t, runProbe(t, c, probeDeadline(tc.reason)), tc.healthy, tc.reason)
		})
	}
}

func TestTCPCheckAppliesBindOptions(t *testing.T) {
	testenv.RequireRoot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	remotes := make(chan string, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case remotes <- c.RemoteAddr().String():
			default:
			}
			c.Close()
		}
	}()
	port := uint16(closedTCPPort(t).Port())
	c := NewTCP(TCPOptions{ConnOptions: ConnOptions{
		Addr:     addrPort(t, ln.Addr()),
		BindAddr: netip.MustParseAddr("127.0.0.2"),
		BindPort: port,
		BindIf:   "lo",
		Fwmark:   7,
	}})
	// A half-open probe never reaches Accept; complete the handshake so the server can say
	// where the probe came from. The options are applied the same way either way.
	c.halfOpen = false
	wantProbe(t, runProbe(t, c, time.Second), true, "connected")
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port).String()
	select {
	case got := <-remotes:
		if got != want {
			t.Errorf("server saw the probe from %s, want %s", got, want)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("server saw no connection")
	}
	if k := c.Key(); !strings.Contains(k, "bind=127.0.0.2:") || !strings.Contains(k, " if=lo") || !strings.Contains(k, " mark=7") {
		t.Errorf("key %q does not name the bind options", k)
	}

	bad := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: addrPort(t, ln.Addr()), BindIf: "vigil-no-such0"}})
	wantProbe(t, runProbe(t, bad, time.Second), false, "bind to device")
}

func TestTCPCheckResetsBeforeTheTargetAccepts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: addrPort(t, ln.Addr())}})
	for range 3 {
		wantProbe(t, runProbe(t, c, time.Second), true, "connected")
	}
	// The probes' connections were reset while half-open: nothing waits in the accept queue.
	// A connection made afterwards is the first one Accept returns.
	client, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	got, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer got.Close()
	if got.RemoteAddr().String() != client.LocalAddr().String() {
		t.Errorf("accept returned a connection from %s, want the later client %s: a probe's connection reached the application", got.RemoteAddr(), client.LocalAddr())
	}
}

func TestTCPCheckReturnsPromptlyOnCancel(t *testing.T) {
	c := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: stalledTCPAddr(t)}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	r := c.Check(ctx)
	if el := time.Since(start); el > time.Second {
		t.Errorf("Check returned %v after cancel", el)
	}
	wantProbe(t, r, false, "canceled")
}

func TestTCPCheckKey(t *testing.T) {
	a := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: netip.MustParseAddrPort("192.0.2.10:80")}})
	b := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: netip.MustParseAddrPort("192.0.2.10:80"), Fwmark: 3}})
	if a.Key() != "TCP_CHECK 192.0.2.10:80" {
		t.Errorf("key %q", a.Key())
	}
	if a.Key() == b.Key() {
		t.Errorf("a fwmark does not change the key: %q", a.Key())
	}
	if a.Kind() != "TCP_CHECK" || a.Target() != "192.0.2.10:80" {
		t.Errorf("kind %q target %q", a.Kind(), a.Target())
	}
}

func BenchmarkTCPCheckLoopback(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ap, _ := netip.ParseAddrPort(ln.Addr().String())
	c := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: ap}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Check(ctx); !r.Healthy {
			b.Fatal(r.Reason)
		}
	}
}

// benchTCPTarget is a TCP target for the connect benchmarks: VIGIL_BENCH_TCP_TARGET (a listener
// in another process, so that its accept work is not counted), or a listener in this process.
func benchTCPTarget(b *testing.B) netip.AddrPort {
	if v := os.Getenv("VIGIL_BENCH_TCP_TARGET"); v != "" {
		return netip.MustParseAddrPort(v)
	}
	return closingTCPListener(b)
}

// BenchmarkTCPConnect compares ways of running one TCP_CHECK probe; cpu-ns/op is the process's
// CPU (user and system) per probe, the figure the checker benchmark reports.
func BenchmarkTCPConnect(b *testing.B) {
	ap := benchTCPTarget(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(b *testing.B, probe func() bool) {
		b.ReportAllocs()
		cpu0 := testenv.CPUTime()
		for b.Loop() {
			if !probe() {
				b.Fatal("probe failed")
			}
		}
		b.ReportMetric(float64((testenv.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	b.Run("NetDialer", func(b *testing.B) {
		d := &net.Dialer{KeepAlive: -1}
		addr := ap.String()
		run(b, func() bool {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return false
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return true
		})
	})
	b.Run("RawFullHandshake", func(b *testing.B) {
		c := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: ap}})
		c.halfOpen = false
		run(b, func() bool { return c.Check(ctx).Healthy })
	})
	b.Run("RawHalfOpen", func(b *testing.B) {
		c := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: ap}})
		run(b, func() bool { return c.Check(ctx).Healthy })
	})
}

func TestChecksOverIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	srv := httptest.NewUnstartedServer(httpTestHandler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	web := addrPort(t, ln.Addr())

	closedUDP := boundPort(t, "::1", syscall.SOCK_DGRAM)
	closedTCP := boundPort(t, "::1", syscall.SOCK_STREAM)

	hostRe := &Regexp{regexp.MustCompile(`^` + regexp.QuoteMeta("[::1]:"+strconv.Itoa(int(web.Port()))) + `$`)}
	udp, err := NewUDP(UDPOptions{ConnOptions: ConnOptions{Addr: closedUDP}, Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		c       probe.Checker
		healthy bool
		reason  string
	}{
		{"TCPConnects", NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: web}}), true, "connected"},
		{"TCPClosedPortIsRefused", NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: closedTCP}}), false, "connection refused"},
		{"HTTPSendsBracketedHost", mustHTTP(t, HTTPOptions{ConnOptions: ConnOptions{Addr: web}, URLs: []URL{{Path: "/host", Regex: hostRe}}}), true, "ok"},
		{"UDPClosedPortIsUnreachable", udp, false, "port unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantProbe(t, runProbe(t, tc.c, time.Second), tc.healthy, tc.reason)
		})
	}
}

// TestTCPCheckWaitsForAHandshakeThatEndsLater covers the path of every probe over a real
// network, where connect returns before the SYN-ACK arrives: Check's socket waits in the
// netpoller (the scheduler's waits in its poller: TestSchedulerRunsTCPChecksWithoutAWorker).
// Here the listener's accept queue is full, so the first SYN is dropped; room is made, and the
// kernel's retransmitted SYN (about 1 s later) is answered.
func TestTCPCheckWaitsForAHandshakeThatEndsLater(t *testing.T) {
	fd, ap, queued := testenv.FullListener(t)

	c := NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: ap}})
	res := make(chan probe.Result, 1)
	go func() { res <- runProbe(t, c, 5*time.Second) }()
	time.Sleep(300 * time.Millisecond) // the probe's first SYN has been dropped by now
	for range queued {
		nfd, _, err := syscall.Accept(fd)
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		syscall.Close(nfd)
	}
	select {
	case r := <-res:
		wantProbe(t, r, true, "connected")
		if r.Latency < 500*time.Millisecond {
			t.Errorf("probe took %v: its handshake was not held up, so the wait was not exercised", r.Latency)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("the probe did not return")
	}
}

// TestSchedulerRunsTCPChecksWithoutAWorker: a TCP_CHECK whose handshake ends (or fails) within
// connect is run and reported by the scheduler's loop; one whose handshake is still under way
// waits in the poller under its timeout. Neither runs Check on a worker.
func TestSchedulerRunsTCPChecksWithoutAWorker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	for _, tc := range []struct {
		name       string
		target     func(t *testing.T) netip.AddrPort
		timeout    time.Duration
		healthy    bool
		reason     string
		minLatency time.Duration
	}{
		{"listening target is up", func(t *testing.T) netip.AddrPort { return addrPort(t, ln.Addr()) }, 5 * time.Second, true, "connected", 0},
		{"refused connection is down at once", closedTCPPort, 5 * time.Second, false, "connect: connection refused", 0},
		{"dropped SYN times out in the poller", stalledTCPAddr, 300 * time.Millisecond, false, "connect: timeout", 250 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPolled(t, NewTCP(TCPOptions{ConnOptions: ConnOptions{Addr: tc.target(t)}}), tc.timeout)
			wantProbe(t, r.Result, tc.healthy, tc.reason)
			if r.Result.Latency < tc.minLatency {
				t.Errorf("latency %v, want at least %v", r.Result.Latency, tc.minLatency)
			}
			if r.Up != tc.healthy {
				t.Errorf("up %t after the report, want %t", r.Up, tc.healthy)
			}
		})
	}
}
