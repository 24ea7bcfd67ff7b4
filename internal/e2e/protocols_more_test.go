package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigil-lb/vigil/internal/supervisor"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// The tests in this file break one real server at a time while a client sends traffic through
// the userspace balancer, and assert three things per failure: the server leaves the data plane
// within the removal bound (see the package comment), no request that starts after its removal
// fails or reaches it, and after the repair it is back within the comeback bound and serves
// traffic again. Each logs one "result:" line per failure: check kind, address family, measured
// detection time, bound, and the failed requests before and after the removal.

// lbFamily is where a test's virtual server and its three real servers live.
type lbFamily struct {
	name string
	vip  string    // the address the virtual server listens on, in the test's namespace
	srv  [3]lbHost // the real servers' addresses
}

// lbHost is an address a server listens on, in the namespace ns or, when ns is nil, in the
// test's own.
type lbHost struct {
	ns   *testenv.Namespace
	addr string
}

// port returns a port for a server on h: a free one here, or 8080 in a namespace the test
// made, where nothing else listens and every server has its own address.
func (h lbHost) port(t *testing.T, udp bool) int {
	t.Helper()
	if h.ns != nil {
		return 8080
	}
	return testenv.FreePort(t, h.addr, udp)
}

// lbPlace names a family and how to set it up.
type lbPlace struct {
	name  string
	setup func(t *testing.T) lbFamily
}

// lbFamilies are the places the protocol tests run in: the IPv4 and the IPv6 loopback, and
// IPv6 over a veth link into a namespace (2001:db8::/32), where neighbour discovery and ICMPv6
// cross a real link.
func lbFamilies() []lbPlace {
	loopback := func(name, host string) func(t *testing.T) lbFamily {
		return func(t *testing.T) lbFamily {
			t.Helper()
			requireLoopback(t, name, host)
			h := lbHost{addr: host}
			return lbFamily{name: name, vip: host, srv: [3]lbHost{h, h, h}}
		}
	}
	return []lbPlace{
		{"IPv4", loopback("IPv4", "127.0.0.1")},
		{"IPv6", loopback("IPv6", "::1")},
		{"IPv6link", ipv6Link},
	}
}

// requireLoopback skips t when host, a loopback address, cannot be bound (IPv6 disabled), or
// fails it when CI is set.
func requireLoopback(t *testing.T, name, host string) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err == nil {
		ln.Close()
		return
	}
	testenv.Unavailable(t, fmt.Sprintf("needs a usable %s loopback %s: %v", name, host, err))
}

// ipv6Subnets numbers the /64s this process takes from 2001:db8::/32.
var ipv6Subnets atomic.Int32

// ipv6Link builds a namespace joined to the test's by a veth pair on a /64 of 2001:db8::/32
// (picked from the process id and a counter, so that parallel tests and processes do not
// share one): the virtual server listens on the host's end (::1), the real servers on three
// addresses of the namespace's end (::2, ::3, ::4). ICMPv6 errors are not rate limited in the
// namespace, so that every probe to a closed UDP port hears its port unreachable, as on the
// loopback (which the kernel never limits).
func ipv6Link(t *testing.T) lbFamily {
	t.Helper()
	testenv.RequireRoot(t)
	ns := testenv.NewNamespace(t, "v6")
	prefix := fmt.Sprintf("2001:db8:%x:%x::", ipv6Subnets.Add(1), os.Getpid()%0xffff)
	// Duplicate address detection would hold every address for a second or two (a tentative
	// address cannot be bound): the namespace's interfaces skip it, and the host's end gets
	// the virtual server's address without it beside the one NewHostVeth gives it (::ff, left to
	// its detection and unused).
	for _, kv := range [][2]string{{"ipv6/icmp/ratelimit", "0"}, {"ipv6/conf/default/accept_dad", "0"}} {
		if err := ns.DoErr(func() error { return os.WriteFile("/proc/sys/net/"+kv[0], []byte(kv[1]), 0o644) }); err != nil {
			t.Fatalf("namespace %s: %s = %s: %v", ns.Name, kv[0], kv[1], err)
		}
	}
	link := testenv.NewHostVeth(t, ns, prefix+"ff/64", prefix+"2/64")
	testenv.Run(t, "ip", "-6", "addr", "add", prefix+"1/64", "dev", link.Host, "nodad")
	for _, a := range []string{"3", "4"} {
		ns.Run(t, "ip", "-6", "addr", "add", prefix+a+"/64", "dev", link.Peer)
	}
	testenv.WaitFor(t, 10*time.Second, "the addresses of "+prefix+"/64 usable", func() bool {
		out, err := exec.Command("ip", "netns", "exec", ns.Name, "ip", "-6", "addr", "show", "dev", link.Peer, "tentative").CombinedOutput()
		return err == nil && len(bytes.TrimSpace(out)) == 0
	})
	f := lbFamily{name: "IPv6link", vip: netip.MustParseAddr(prefix + "1").String()}
	for i := range f.srv {
		f.srv[i] = lbHost{ns: ns, addr: netip.MustParseAddr(fmt.Sprintf("%s%d", prefix, i+2)).String()}
	}
	return f
}

// vsOpen opens a virtual_server block on host:port.
func vsOpen(b *strings.Builder, host string, port int, protocol, algo, extra string) {
	fmt.Fprintf(b, "virtual_server %s %d {\n  lb_algo %s\n  lb_kind NAT\n  protocol %s\n%s", host, port, algo, protocol, extra)
}

// listenRetry binds network/addr in ns, retrying for a second while the address is still in use (a
// server restarted on its port right after it closed).
func listenRetry(t *testing.T, ns *testenv.Namespace, network, addr string) (net.Listener, net.PacketConn) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		var ln net.Listener
		var pc net.PacketConn
		err := ns.DoErr(func() (err error) {
			if network == "tcp" {
				ln, err = net.Listen("tcp", addr)
			} else {
				pc, err = net.ListenPacket("udp", addr)
			}
			return err
		})
		if err == nil {
			return ln, pc
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("listen %s %s: %v", network, addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// webBackend is an HTTP server on a fixed address that can be stopped and started again, and
// made to fail: then /health and every other path answer 503. Other paths answer with its
// address, which names it to a client behind the balancer.
type webBackend struct {
	t       *testing.T
	ns      *testenv.Namespace
	addr    string
	failing atomic.Bool
	mu      sync.Mutex
	srv     *http.Server
}

func startWebBackend(t *testing.T, h lbHost) *webBackend {
	t.Helper()
	b := &webBackend{t: t, ns: h.ns, addr: net.JoinHostPort(h.addr, fmt.Sprint(h.port(t, false)))}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *webBackend) start() {
	b.t.Helper()
	ln, _ := listenRetry(b.t, b.ns, "tcp", b.addr)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if b.failing.Load() {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/health" {
			io.WriteString(w, "ok")
			return
		}
		io.WriteString(w, b.addr)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	go srv.Serve(ln)
}

// stop closes the listener and every connection: connects are refused until start.
func (b *webBackend) stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// requestTimeout bounds one request through the balancer. A healthy answer takes a
// millisecond; the bound is for a loaded 2-core machine with -race (a build of vigil beside the
// tests made a gRPC call take 1.4 s), so that only a request that went to a bad server fails.
const requestTimeout = 3 * time.Second

// udpRequestTimeout is shorter: a UDP request to a bad server fails only by waiting it out, and
// the clients' requests started before a removal hold back the count of those after it. One
// datagram each way needs no handshake; a second is still ample under load.
const udpRequestTimeout = time.Second

// lbRequest is one request an lbTraffic sent through the balancer.
type lbRequest struct {
	start   time.Time
	took    time.Duration
	backend string // who answered
	err     error
}

// lbTraffic is two clients that each send one request after another through a balancer
// until they are stopped; it keeps every outcome. Two, so that a request waiting out its
// timeout on a bad server does not stop the traffic.
type lbTraffic struct {
	mu     sync.Mutex
	reqs   []lbRequest
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLBTraffic has each client call do every gap until cleanup or stop; do returns the
// backend that answered.
func startLBTraffic(t *testing.T, gap time.Duration, do func(ctx context.Context) (string, error)) *lbTraffic {
	ctx, cancel := context.WithCancel(context.Background())
	c := &lbTraffic{cancel: cancel}
	for range 2 {
		c.wg.Add(1)
		go c.client(ctx, gap, do)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *lbTraffic) client(ctx context.Context, gap time.Duration, do func(ctx context.Context) (string, error)) {
	defer c.wg.Done()
	for ctx.Err() == nil {
		start := time.Now()
		backend, err := do(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, lbRequest{start: start, took: time.Since(start), backend: backend, err: err})
		c.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(gap):
		}
	}
}

func (c *lbTraffic) stop() {
	c.cancel()
	c.wg.Wait()
}

// since returns the finished requests that started at or after from.
func (c *lbTraffic) since(from time.Time) []lbRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []lbRequest
	for _, r := range c.reqs {
		if !r.start.Before(from) {
			out = append(out, r)
		}
	}
	return out
}

// between returns the requests that started in [from, to).
func (c *lbTraffic) between(from, to time.Time) []lbRequest {
	var out []lbRequest
	for _, r := range c.since(from) {
		if r.start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// lbTally counts failures and answers per backend among reqs, and keeps the first error.
type lbTally struct {
	total, failed int
	by            map[string]int
	firstErr      error
}

func tallyOf(reqs []lbRequest) lbTally {
	s := lbTally{by: map[string]int{}}
	for _, r := range reqs {
		s.total++
		if r.err != nil {
			s.failed++
			if s.firstErr == nil {
				s.firstErr = r.err
			}
			continue
		}
		s.by[r.backend]++
	}
	return s
}

// waitRequests waits until n requests started at or after from have finished.
func (c *lbTraffic) waitRequests(t *testing.T, from time.Time, n int, within time.Duration) {
	t.Helper()
	testenv.WaitFor(t, within, fmt.Sprintf("%d requests through the balancer", n), func() bool { return len(c.since(from)) >= n })
}

// lbFailure describes one way a real server goes bad and is repaired.
type lbFailure struct {
	kind, fam, how string
	addr           string // the real server, as the status names it
	tm             timing
	breakIt        func()
	repair         func()
}

// breakAndRepair runs f against the daemon while traffic flows: the server leaves within the
// bound; the requests that start after its removal all succeed, on the other servers; after the
// repair it comes back within the comeback bound and answers requests again, still without a
// failed request.
func breakAndRepair(t *testing.T, d *supervisor.Vigil, tr *lbTraffic, f lbFailure) {
	t.Helper()
	checkedUp(t, d, f.addr, 5*time.Second)
	broke := time.Now()
	f.breakIt()
	took := expectRemoval(t, d, f.addr, f.tm, broke, f.how)
	removed := time.Now()
	var before lbTally

	const n = 20
	tr.waitRequests(t, removed, n, 10*time.Second)
	before = tallyOf(tr.between(broke, removed))
	out := tallyOf(tr.since(removed))
	if out.failed > 0 || out.by[f.addr] > 0 {
		t.Errorf("%s: after removal %d of %d requests failed (first: %v) and %d reached the removed server; want 0 and 0",
			f.how, out.failed, out.total, out.firstErr, out.by[f.addr])
	}
	for _, r := range tr.since(removed) {
		if r.err != nil {
			t.Logf("failed request started %v after the removal, took %v: %v", r.start.Sub(removed), r.took, r.err)
		}
	}
	if len(out.by) == 0 {
		t.Errorf("%s: after removal no request reached any server", f.how)
	}

	repaired := time.Now()
	f.repair()
	back := expectReturn(t, d, f.addr, f.tm, repaired, "repair of "+f.how)
	backAt := time.Now()
	testenv.WaitFor(t, 5*time.Second, f.addr+" answers requests through the balancer again", func() bool {
		return tallyOf(tr.since(backAt)).by[f.addr] > 0
	})
	after := tallyOf(tr.since(removed))
	if after.failed > 0 {
		t.Errorf("%s: from removal to return %d of %d requests failed (first: %v); want 0", f.how, after.failed, after.total, after.firstErr)
	}
	t.Logf("result: %-10s %-4s %-40s removed %6v (bound %v)  back %6v (bound %v)  failed requests: %d of %d from the failure to the removal, %d of %d after it; served after removal %v",
		f.kind, f.fam, f.how, took.Round(time.Millisecond), f.tm.removal(), back.Round(time.Millisecond), f.tm.comeback(),
		before.failed, before.total, after.failed, after.total, out.by)
}

// httpThrough returns a request function that GETs / through the balancer at vip on a new
// connection each time, and names the backend from the body.
func httpThrough(vip string) func(ctx context.Context) (string, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: requestTimeout}
	return func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+vip+"/", nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("status %d: %q", resp.StatusCode, body)
		}
		return string(body), nil
	}
}

// TestTCPAndHTTPChecksOverIPv4AndIPv6RemoveAndReturnWhileTrafficFlows runs, in each of
// lbFamilies, a virtual server with three HTTP servers behind the userspace balancer:
// one under TCP_CHECK whose listener closes, one under HTTP_GET that starts answering 503, and
// a third that stays healthy. Requests go through the virtual address all along.
func TestTCPAndHTTPChecksOverIPv4AndIPv6RemoveAndReturnWhileTrafficFlows(t *testing.T) {
	t.Parallel()
	for _, place := range lbFamilies() {
		t.Run(place.name, func(t *testing.T) {
			t.Parallel()
			fam := place.setup(t)
			tcpB, httpB, steady := startWebBackend(t, fam.srv[0]), startWebBackend(t, fam.srv[1]), startWebBackend(t, fam.srv[2])
			tm := timing{D: 300 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: 500 * time.Millisecond}
			vport := testenv.FreePort(t, fam.vip, false)
			vip := net.JoinHostPort(fam.vip, fmt.Sprint(vport))
			var b strings.Builder
			vsOpen(&b, fam.vip, vport, "TCP", "rr", "  delay_loop 0.3\n  retry 1\n  delay_before_retry 0.1\n")
			h, p := splitAddr(t, tcpB.addr)
			fmt.Fprintf(&b, "  real_server %s %s {\n    TCP_CHECK {\n      connect_timeout 0.5\n    }\n  }\n", h, p)
			for _, be := range []*webBackend{httpB, steady} {
				h, p := splitAddr(t, be.addr)
				fmt.Fprintf(&b, "  real_server %s %s {\n    HTTP_GET {\n      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 0.5\n    }\n  }\n", h, p)
			}
			b.WriteString("}\n")
			d := runDaemon(t, loadConfig(t, b.String()))
			for _, be := range []*webBackend{tcpB, httpB, steady} {
				checkedUp(t, d, be.addr, 5*time.Second)
			}
			if _, ok := virtualServer(d, vip); !ok {
				t.Fatalf("no virtual server listens on %s: %+v", vip, d.Snapshot().VirtualServers)
			}
			tr := startLBTraffic(t, 40*time.Millisecond, httpThrough(vip))

			breakAndRepair(t, d, tr, lbFailure{kind: "TCP_CHECK", fam: fam.name, how: "TCP_CHECK: listener closed", addr: tcpB.addr, tm: tm,
				breakIt: tcpB.stop, repair: tcpB.start})
			breakAndRepair(t, d, tr, lbFailure{kind: "HTTP_GET", fam: fam.name, how: "HTTP_GET: every path answers 503", addr: httpB.addr, tm: tm,
				breakIt: func() { httpB.failing.Store(true) }, repair: func() { httpB.failing.Store(false) }})
		})
	}
}

// udpBackend answers every datagram that starts with "ping" with "pong <its address>". It can
// fall silent (bound, reading, never answering) or close its socket, so that the kernel answers
// with ICMP port unreachable, and come back on the same port.
type udpBackend struct {
	t      *testing.T
	ns     *testenv.Namespace
	addr   string
	silent atomic.Bool
	mu     sync.Mutex
	conn   net.PacketConn
	wg     sync.WaitGroup
}

func startUDPBackend(t *testing.T, h lbHost) *udpBackend {
	t.Helper()
	b := &udpBackend{t: t, ns: h.ns, addr: net.JoinHostPort(h.addr, fmt.Sprint(h.port(t, true)))}
	b.start()
	t.Cleanup(b.close)
	return b
}

func (b *udpBackend) start() {
	b.t.Helper()
	_, pc := listenRetry(b.t, b.ns, "udp", b.addr)
	b.mu.Lock()
	b.conn = pc
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		buf := make([]byte, 2048)
		reply := []byte("pong " + b.addr)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if b.silent.Load() || !bytes.HasPrefix(buf[:n], []byte("ping")) {
				continue
			}
			pc.WriteTo(reply, from)
		}
	}()
}

// close closes the socket: datagrams to the port now draw ICMP port unreachable.
func (b *udpBackend) close() {
	b.mu.Lock()
	pc := b.conn
	b.conn = nil
	b.mu.Unlock()
	if pc != nil {
		pc.Close()
		b.wg.Wait()
	}
}

// udpThrough returns a request function that sends "ping" from a new socket (so a new flow,
// which the balancer schedules afresh) to vip and reads the answer.
func udpThrough(vip string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		c, err := net.Dial("udp", vip)
		if err != nil {
			return "", err
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(udpRequestTimeout))
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil {
			return "", err
		}
		backend, ok := strings.CutPrefix(string(buf[:n]), "pong ")
		if !ok {
			return "", fmt.Errorf("answer %q", buf[:n])
		}
		return backend, nil
	}
}

// TestUDPCheckOverIPv4AndIPv6RemovesUnreachableAndSilentServersWhileUDPTrafficFlows runs a UDP
// virtual server with three UDP servers behind the userspace balancer, in each of lbFamilies.
// UDP_CHECK with require_reply takes out a server whose port is
// closed (ICMP port unreachable) and one that falls silent (no reply before connect_timeout);
// UDP_CHECK without require_reply, Keepalived's default, takes out one whose port is closed.
//
// The virtual server has shutdown_sessions: every request comes from a new socket, but the
// kernel hands out a source port again sooner or later, and by default a flow to a removed
// server drains (IPVS too keeps it, dropping its packets, until its 300 s timeout), so a
// request from a port whose flow went to the removed server would fail. The next test shows
// that case alone.
func TestUDPCheckOverIPv4AndIPv6RemovesUnreachableAndSilentServersWhileUDPTrafficFlows(t *testing.T) {
	t.Parallel()
	for _, place := range lbFamilies() {
		t.Run(place.name, func(t *testing.T) {
			t.Parallel()
			fam := place.setup(t)
			a, s, c := startUDPBackend(t, fam.srv[0]), startUDPBackend(t, fam.srv[1]), startUDPBackend(t, fam.srv[2])
			tm := timing{D: 300 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: 500 * time.Millisecond}
			vport := testenv.FreePort(t, fam.vip, true)
			vip := net.JoinHostPort(fam.vip, fmt.Sprint(vport))
			var b strings.Builder
			vsOpen(&b, fam.vip, vport, "UDP", "rr", "  delay_loop 0.3\n  retry 1\n  delay_before_retry 0.1\n  shutdown_sessions\n")
			// "ping" out; the reply must start with "pong" ("70 6f 6e 67").
			for _, be := range []*udpBackend{a, s} {
				h, p := splitAddr(t, be.addr)
				fmt.Fprintf(&b, "  real_server %s %s {\n    UDP_CHECK {\n      connect_timeout 0.5\n      payload 70696e67\n      require_reply 70 6f 6e 67\n      min_reply_length 4\n    }\n  }\n", h, p)
			}
			h, p := splitAddr(t, c.addr)
			fmt.Fprintf(&b, "  real_server %s %s {\n    UDP_CHECK {\n      connect_timeout 0.5\n      payload 70696e67\n    }\n  }\n", h, p)
			b.WriteString("}\n")
			d := runDaemon(t, loadConfig(t, b.String()))
			for _, be := range []*udpBackend{a, s, c} {
				checkedUp(t, d, be.addr, 5*time.Second)
			}
			if _, ok := virtualServer(d, vip); !ok {
				t.Fatalf("no virtual server listens on %s: %+v", vip, d.Snapshot().VirtualServers)
			}
			tr := startLBTraffic(t, 40*time.Millisecond, udpThrough(vip))

			breakAndRepair(t, d, tr, lbFailure{kind: "UDP_CHECK", fam: fam.name, how: "UDP_CHECK require_reply: port closed (ICMP)", addr: a.addr, tm: tm,
				breakIt: a.close, repair: a.start})
			breakAndRepair(t, d, tr, lbFailure{kind: "UDP_CHECK", fam: fam.name, how: "UDP_CHECK require_reply: server silent", addr: s.addr, tm: tm,
				breakIt: func() { s.silent.Store(true) }, repair: func() { s.silent.Store(false) }})
			if rs, _ := realServer(d, a.addr); !rs.Up {
				t.Errorf("%s went down beside the silent one: %q", a.addr, rs.Reason)
			}
			breakAndRepair(t, d, tr, lbFailure{kind: "UDP_CHECK", fam: fam.name, how: "UDP_CHECK no require_reply: port closed (ICMP)", addr: c.addr, tm: tm,
				breakIt: c.close, repair: c.start})
		})
	}
}

// TestUDPFlowToARemovedServerDrainsByDefaultAndMovesOnWithShutdownSessions sends from one
// client socket, so one flow, pinned to whichever of two servers the balancer picked; that
// server falls silent and UDP_CHECK removes it. By default the flow drains: the client's next
// datagrams still go to the removed server and go unanswered, while a new socket reaches the
// other. With shutdown_sessions the flow is cut at the removal and the same socket's next
// datagram reaches the other server.
func TestUDPFlowToARemovedServerDrainsByDefaultAndMovesOnWithShutdownSessions(t *testing.T) {
	t.Parallel()
	for _, cut := range []bool{false, true} {
		name := "default"
		if cut {
			name = "shutdown_sessions"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lo := lbHost{addr: "127.0.0.1"}
			backends := map[string]*udpBackend{}
			for range 2 {
				be := startUDPBackend(t, lo)
				backends[be.addr] = be
			}
			tm := timing{D: 300 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: 500 * time.Millisecond}
			vport := testenv.FreePort(t, "127.0.0.1", true)
			vip := fmt.Sprintf("127.0.0.1:%d", vport)
			extra := "  delay_loop 0.3\n  retry 1\n  delay_before_retry 0.1\n"
			if cut {
				extra += "  shutdown_sessions\n"
			}
			var b strings.Builder
			vsOpen(&b, "127.0.0.1", vport, "UDP", "rr", extra)
			for addr := range backends {
				h, p := splitAddr(t, addr)
				fmt.Fprintf(&b, "  real_server %s %s {\n    UDP_CHECK {\n      connect_timeout 0.5\n      payload 70696e67\n      require_reply 706f6e67\n    }\n  }\n", h, p)
			}
			b.WriteString("}\n")
			d := runDaemon(t, loadConfig(t, b.String()))
			for addr := range backends {
				checkedUp(t, d, addr, 5*time.Second)
			}
			c, err := net.Dial("udp", vip)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ask := func(wait time.Duration) (string, error) {
				if _, err := c.Write([]byte("ping")); err != nil {
					return "", err
				}
				c.SetReadDeadline(time.Now().Add(wait))
				buf := make([]byte, 512)
				n, err := c.Read(buf)
				if err != nil {
					return "", err
				}
				return strings.TrimPrefix(string(buf[:n]), "pong "), nil
			}
			pinned, err := ask(requestTimeout)
			if err != nil {
				t.Fatalf("first datagram through %s: %v", vip, err)
			}
			other := ""
			for addr := range backends {
				if addr != pinned {
					other = addr
				}
			}
			backends[pinned].silent.Store(true)
			expectRemoval(t, d, pinned, tm, time.Now(), "UDP_CHECK: the pinned flow's server fell silent")
			// An answer comes within a millisecond or never: the server the flow drains to is
			// silent. A second is enough to tell; only the expected answer needs the long wait.
			wait := time.Second
			if cut {
				wait = requestTimeout
			}
			got, err := ask(wait)
			t.Logf("%s: the pinned socket's next datagram after the removal of %s: answered by %q, error %v", name, pinned, got, err)
			if cut {
				if err != nil || got != other {
					t.Errorf("with shutdown_sessions the flow to the removed %s was not cut: answer %q, error %v; want %s", pinned, got, err, other)
				}
			} else if err == nil {
				t.Errorf("by default the flow to the removed %s drains, but %q answered the pinned socket", pinned, got)
			}
			if got, err := udpThrough(vip)(context.Background()); err != nil || got != other {
				t.Errorf("a new socket after the removal: answer %q, error %v; want %s", got, err, other)
			}
		})
	}
}

// grpcBackend is a gRPC server with the standard health service. Besides the server as a whole
// ("") it reports one service named "backend/<its address>", so that a client behind the
// balancer learns from List which server answered.
type grpcBackend struct {
	addr   string
	health *health.Server
}

func startGRPCBackend(t *testing.T, h lbHost) *grpcBackend {
	t.Helper()
	ln, _ := listenRetry(t, h.ns, "tcp", net.JoinHostPort(h.addr, fmt.Sprint(h.port(t, false))))
	g := &grpcBackend{addr: ln.Addr().String(), health: health.NewServer()}
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	g.health.SetServingStatus("backend/"+g.addr, healthpb.HealthCheckResponse_SERVING)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, g.health)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return g
}

// grpcThrough returns a request function that connects to vip anew (so the balancer schedules
// each call) and calls Health/List: an error, or a whole-server status other than SERVING, is a
// failed request.
func grpcThrough(vip string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		conn, err := grpc.NewClient("passthrough:///"+vip, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return "", err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).List(ctx, &healthpb.HealthListRequest{})
		if err != nil {
			return "", err
		}
		backend := ""
		for name := range resp.GetStatuses() {
			if a, ok := strings.CutPrefix(name, "backend/"); ok {
				backend = a
			}
		}
		if st := resp.GetStatuses()[""].GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
			return "", fmt.Errorf("%s says %v", backend, st)
		}
		return backend, nil
	}
}

// TestGRPCCheckOverIPv4AndIPv6FollowsTheHealthServiceWhileTrafficFlows runs GRPC_CHECK (a
// vigil extension) against three gRPC servers from google.golang.org/grpc/health in each of
// lbFamilies; one of them turns NOT_SERVING and then SERVING again.
func TestGRPCCheckOverIPv4AndIPv6FollowsTheHealthServiceWhileTrafficFlows(t *testing.T) {
	t.Parallel()
	for _, place := range lbFamilies() {
		t.Run(place.name, func(t *testing.T) {
			t.Parallel()
			fam := place.setup(t)
			backends := []*grpcBackend{startGRPCBackend(t, fam.srv[0]), startGRPCBackend(t, fam.srv[1]), startGRPCBackend(t, fam.srv[2])}
			tm := timing{D: 300 * time.Millisecond, R: 1, B: 100 * time.Millisecond, T: 500 * time.Millisecond}
			vport := testenv.FreePort(t, fam.vip, false)
			vip := net.JoinHostPort(fam.vip, fmt.Sprint(vport))
			var b strings.Builder
			vsOpen(&b, fam.vip, vport, "TCP", "rr", "  delay_loop 0.3\n  retry 1\n  delay_before_retry 0.1\n")
			for _, be := range backends {
				h, p := splitAddr(t, be.addr)
				fmt.Fprintf(&b, "  real_server %s %s {\n    GRPC_CHECK {\n      connect_timeout 0.5\n    }\n  }\n", h, p)
			}
			b.WriteString("}\n")
			d := runDaemon(t, loadConfig(t, b.String()))
			for _, be := range backends {
				checkedUp(t, d, be.addr, 5*time.Second)
			}
			tr := startLBTraffic(t, 40*time.Millisecond, grpcThrough(vip))
			bad := backends[0]
			breakAndRepair(t, d, tr, lbFailure{kind: "GRPC_CHECK", fam: fam.name, how: "GRPC_CHECK: SERVING -> NOT_SERVING", addr: bad.addr, tm: tm,
				breakIt: func() { bad.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING) },
				repair:  func() { bad.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING) }})
			if rs, _ := realServer(d, bad.addr); !strings.Contains(rs.Checks[0].Reason, "SERVING") {
				t.Errorf("GRPC_CHECK reason %q does not name the status", rs.Checks[0].Reason)
			}
		})
	}
}

// TestFileCheckWeighsAndRemovesServersByTheirTrackFileWhileTrafficFlows runs FILE_CHECK with
// Keepalived 2.2.7's semantics: one server's file is a verdict (FILE_CHECK weight 0: 0 is up,
// anything else down); another's value times weight 2 is added to the server's weight 1, and a
// product at or below -2^31 takes it down. A third server is always healthy. The data plane
// follows the weights (wrr).
func TestFileCheckWeighsAndRemovesServersByTheirTrackFileWhileTrafficFlows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	verdict, weighed := filepath.Join(dir, "verdict"), filepath.Join(dir, "weighed")
	write := func(path, v string) {
		t.Helper()
		// Written whole and renamed, so that a probe never reads half a value.
		if err := os.WriteFile(path+".tmp", []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(verdict, "0")
	write(weighed, "0")
	lo := lbHost{addr: "127.0.0.1"}
	vb, wb, steady := startWebBackend(t, lo), startWebBackend(t, lo), startWebBackend(t, lo)
	// FILE_CHECK has no connect_timeout: a probe is bounded by delay_loop (T = D), and it has no
	// retry (Keepalived acts on the first value read).
	tm := timing{D: 300 * time.Millisecond, T: 300 * time.Millisecond}
	vport := testenv.FreePort(t, "127.0.0.1", false)
	vip := fmt.Sprintf("127.0.0.1:%d", vport)
	var b strings.Builder
	fmt.Fprintf(&b, "track_file verdict {\n  file %q\n}\ntrack_file weighed {\n  file %q\n}\n", verdict, weighed)
	vsOpen(&b, "127.0.0.1", vport, "TCP", "wrr", "  delay_loop 0.3\n")
	h, p := splitAddr(t, vb.addr)
	fmt.Fprintf(&b, "  real_server %s %s {\n    weight 1\n    FILE_CHECK {\n      track_file verdict\n      weight 0\n    }\n  }\n", h, p)
	h, p = splitAddr(t, wb.addr)
	fmt.Fprintf(&b, "  real_server %s %s {\n    weight 1\n    FILE_CHECK {\n      track_file weighed\n      weight 2\n    }\n  }\n", h, p)
	h, p = splitAddr(t, steady.addr)
	fmt.Fprintf(&b, "  real_server %s %s {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 0.5\n      delay_loop 0.3\n    }\n  }\n}\n", h, p)
	d := runDaemon(t, loadConfig(t, b.String()))
	for _, be := range []*webBackend{vb, wb, steady} {
		checkedUp(t, d, be.addr, 5*time.Second)
	}
	if c, _ := realServer(d, vb.addr); c.Checks[0].Kind != "FILE_CHECK" {
		t.Fatalf("the first server's check is %q, not FILE_CHECK", c.Checks[0].Kind)
	}
	tr := startLBTraffic(t, 40*time.Millisecond, httpThrough(vip))

	breakAndRepair(t, d, tr, lbFailure{kind: "FILE_CHECK", fam: "file", how: "FILE_CHECK weight 0: file 0 -> 1", addr: vb.addr, tm: tm,
		breakIt: func() { write(verdict, "1") }, repair: func() { write(verdict, "0") }})

	// A value of 4 times weight 2 adds 8 to the server's weight 1: it gets 9 of every 11
	// requests under wrr.
	at := time.Now()
	write(weighed, "4")
	took := waitSince(t, at, tm.removal(), wb.addr+" weight 9 after its file went to 4", func() bool {
		rs, ok := realServer(d, wb.addr)
		return ok && rs.Up && rs.EffectiveWeight == 9
	})
	t.Logf("result: %-10s %-4s %-40s weight 1 -> 9 in %v (bound %v)", "FILE_CHECK", "file", "FILE_CHECK weight 2: file 0 -> 4", took.Round(time.Millisecond), tm.removal())
	from := time.Now()
	tr.waitRequests(t, from, 66, 15*time.Second)
	share := tallyOf(tr.since(from))
	if share.failed > 0 {
		t.Errorf("with weights 1, 9, 1: %d of %d requests failed (first: %v)", share.failed, share.total, share.firstErr)
	}
	frac := float64(share.by[wb.addr]) / float64(share.total)
	t.Logf("with weights 1, 9, 1 the weighed server answered %d of %d requests (%.2f; 9/11 = 0.82): %v", share.by[wb.addr], share.total, frac, share.by)
	if frac < 0.7 || frac > 0.9 {
		t.Errorf("the server of weight 9 of 11 answered %.2f of the requests, want about 0.82", frac)
	}

	// -2^30 times 2 is -2^31, Keepalived's IPVS_WEIGHT_FAULT: down. Back to 0: weight 1 again.
	breakAndRepair(t, d, tr, lbFailure{kind: "FILE_CHECK", fam: "file", how: "FILE_CHECK weight 2: file 4 -> -1073741824", addr: wb.addr, tm: tm,
		breakIt: func() { write(weighed, "-1073741824") }, repair: func() { write(weighed, "0") }})
	if rs, _ := realServer(d, wb.addr); rs.EffectiveWeight != 1 {
		t.Errorf("%s effective weight %d after its file went back to 0, want 1", wb.addr, rs.EffectiveWeight)
	}
}
