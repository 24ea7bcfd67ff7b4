package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// This file is the lab of the BGP anycast test (bgp_frr_test.go): namespaces joined by veth
// pairs, sockets opened inside a namespace from the test process, a real FRR router, vigil
// run as its own binary, a watcher of the router's kernel route and a client that counts.

// inNamespace runs fn on an OS thread that has joined the network namespace ns, so that the
// sockets fn opens live there (a socket keeps the namespace it was opened in, whichever
// thread uses it later).
func inNamespace(ns *testenv.Namespace, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread has left the test's namespace, so Go must end it with
		// this goroutine instead of giving it to another one.
		if err := joinNamespace(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// joinNamespace moves the calling thread, which must be locked, into ns.
func joinNamespace(ns *testenv.Namespace) error {
	f, err := os.Open(filepath.Join("/var/run/netns", ns.Name))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", ns.Name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join namespace %s: %w", ns.Name, err)
	}
	return nil
}

// linkNamespaces joins a and b with a veth pair: aIf with aAddr in a, bIf with bAddr in b,
// both up. Deleting either namespace deletes the pair.
func linkNamespaces(t *testing.T, a *testenv.Namespace, aIf, aAddr string, b *testenv.Namespace, bIf, bAddr string) {
	t.Helper()
	a.Run(t, "ip", "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	a.Run(t, "ip", "addr", "add", aAddr, "dev", aIf)
	b.Run(t, "ip", "addr", "add", bAddr, "dev", bIf)
	a.Run(t, "ip", "link", "set", aIf, "up")
	b.Run(t, "ip", "link", "set", bIf, "up")
}

// frrRouter is FRR's zebra and bgpd running in a namespace (testenv.FRR).
type frrRouter struct {
	*testenv.FRR
}

// frrBinaries skips t (fails it when CI is set) when FRR's zebra, bgpd or vtysh is missing.
func frrBinaries(t *testing.T) { testenv.RequireFRR(t, "bgpd") }

// startFRR runs zebra and then bgpd with bgpdConf in ns and waits until bgpd answers vtysh.
// Both are stopped at cleanup and their directory removed.
func startFRR(t *testing.T, ns *testenv.Namespace, bgpdConf string) *frrRouter {
	t.Helper()
	r := &frrRouter{testenv.StartFRR(t, &testenv.Namespace{Name: ns.Name})}
	r.Start(t, "bgpd", bgpdConf, func() bool {
		out, err := r.Vty("show bgp summary json")
		return err == nil && strings.Contains(out, "65000") // bgpd itself answered, with its AS
	})
	return r
}

// ribNexthops returns the next hops zebra has installed in the kernel (fib) for prefix.
func (r *frrRouter) ribNexthops(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := r.Vty("show ip route " + prefix + " json")
	if err != nil {
		t.Fatal(err)
	}
	var rib map[string][]struct {
		Selected bool `json:"selected"`
		Nexthops []struct {
			IP  string `json:"ip"`
			FIB bool   `json:"fib"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &rib); err != nil {
		t.Fatalf("show ip route %s json: %v: %s", prefix, err, out)
	}
	var nhs []string
	for _, route := range rib[prefix] {
		for _, nh := range route.Nexthops {
			if route.Selected && nh.FIB {
				nhs = append(nhs, nh.IP)
			}
		}
	}
	slices.Sort(nhs)
	return nhs
}

// buildVigil builds cmd/vigil into a temporary directory: each BGP speaker needs a process of
// its own (GoBGP keeps package-level state), and the binary is what operators run. The
// environment variable VIGIL_E2E_BINARY names a binary to use instead (a release build, or
// one built from a clean checkout while the work tree does not compile).
func buildVigil(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("VIGIL_E2E_BINARY"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("VIGIL_E2E_BINARY: %v", err)
		}
		t.Logf("vigil binary from VIGIL_E2E_BINARY: %s", bin)
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "vigil")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/vigil-lb/vigil/cmd/vigil").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/vigil: %v\n%s", err, out)
	}
	t.Logf("built vigil in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// logTimes returns the times of vigil's log lines (text format) whose msg starts with msg.
func logTimes(log, msg string) []time.Time {
	var out []time.Time
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, ` msg="`+msg) && !strings.Contains(line, ` msg=`+msg) {
			continue
		}
		ts, _, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if !ok || !strings.HasPrefix(line, "time=") {
			continue
		}
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			out = append(out, at)
		}
	}
	return out
}

// firstLogAfter returns the first time in times not before since, less the millisecond slog
// truncates away.
func firstLogAfter(times []time.Time, since time.Time) (time.Time, bool) {
	for _, at := range times {
		if !at.Before(since.Add(-time.Millisecond)) {
			return at, true
		}
	}
	return time.Time{}, false
}

// anycastBackend is an HTTP server opened in a node's namespace: / answers its name, /health
// answers 200 until failing is set.
type anycastBackend struct {
	name    string
	failing atomic.Bool
}

func startAnycastBackend(t *testing.T, ns *testenv.Namespace, name, addr string) *anycastBackend {
	t.Helper()
	var ln net.Listener
	if err := inNamespace(ns, func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("backend %s on %s in %s: %v", name, addr, ns.Name, err)
	}
	b := &anycastBackend{name: name}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		if b.failing.Load() {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return b
}

// routeState is the set of gateways of the router's kernel route, from one poll on.
type routeState struct {
	at     time.Time // the end of the first poll that saw gws: the set was in place by then
	before time.Time // the start of the last poll that saw the previous set: it was still in place then; zero for the first state
	gws    []string
}

// routeWatcher polls the kernel route to one prefix in a namespace over netlink every 5 ms and
// records each change of its gateways: what forwards the client's packets.
type routeWatcher struct {
	mu      sync.Mutex
	states  []routeState
	lastErr error
	stop    context.CancelFunc
	done    chan struct{}
}

func watchRoute(t *testing.T, ns *testenv.Namespace, prefix string) *routeWatcher {
	t.Helper()
	dst, err := netip.ParsePrefix(prefix)
	if err != nil {
		t.Fatal(err)
	}
	nsh, err := netns.GetFromName(ns.Name)
	if err != nil {
		t.Fatalf("namespace %s: %v", ns.Name, err)
	}
	h, err := netlink.NewHandleAt(nsh)
	nsh.Close()
	if err != nil {
		t.Fatalf("netlink in %s: %v", ns.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &routeWatcher{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer h.Close()
		var last time.Time // when the last good poll began
		for ctx.Err() == nil {
			// The kernel's answer is from some moment within the poll; a change is placed
			// between the start of the last poll that saw the old set and the end of the first
			// that saw the new one.
			began := time.Now()
			gws, err := kernelGateways(h, dst)
			ended := time.Now()
			w.mu.Lock()
			if err != nil {
				w.lastErr = err
			} else if n := len(w.states); n == 0 || !slices.Equal(w.states[n-1].gws, gws) {
				w.states = append(w.states, routeState{at: ended, before: last, gws: gws})
			}
			if err == nil {
				last = began
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *routeWatcher) close() {
	w.stop()
	<-w.done
}

// kernelGateways returns the sorted gateways of the main table's route to dst. Routes that
// zebra installs with a nexthop group carry the group's gateways too (the kernel's
// nexthop_compat_mode, on by default).
func kernelGateways(h *netlink.Handle, dst netip.Prefix) ([]string, error) {
	ipnet := &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: ipnet, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("route list %s: %w", dst, err)
	}
	gws := []string{}
	for _, r := range routes {
		if r.Gw != nil {
			gws = append(gws, r.Gw.String())
		}
		for _, nh := range r.MultiPath {
			gws = append(gws, nh.Gw.String())
		}
		if r.Gw == nil && len(r.MultiPath) == 0 {
			return nil, fmt.Errorf("route to %s without gateways: %v (nexthop_compat_mode off?)", dst, r)
		}
	}
	slices.Sort(gws)
	return gws, nil
}

// waitGateways waits until the route's gateways are want, at a state first seen at since or
// later, and returns that state.
func (w *routeWatcher) waitGateways(t *testing.T, want []string, since time.Time, within time.Duration, what string) routeState {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		w.mu.Lock()
		for _, s := range w.states {
			if !s.at.Before(since) && slices.Equal(s.gws, want) {
				w.mu.Unlock()
				return s
			}
		}
		states, lastErr := slices.Clone(w.states), w.lastErr
		w.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("%s: the route's gateways were not %v within %v; changes seen %v; last error %v", what, want, within, states, lastErr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// history returns every state seen so far.
func (w *routeWatcher) history() []routeState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.states)
}

// request is one client request through the router: a new connection each time.
type request struct {
	start, end time.Time
	served     string // the backend's name; empty when err is set
	err        error
}

// anycastClient sends one request after another from inside a namespace until stopped.
type anycastClient struct {
	mu   sync.Mutex
	reqs []request
	stop context.CancelFunc
	done chan error
}

// startAnycastClient runs the client in ns against addr, a pause of gap between requests.
func startAnycastClient(t *testing.T, ns *testenv.Namespace, addr string, gap time.Duration) *anycastClient {
	ctx, cancel := context.WithCancel(context.Background())
	c := &anycastClient{stop: cancel, done: make(chan error, 1)}
	go func() {
		runtime.LockOSThread() // never unlocked: see inNamespace
		if err := joinNamespace(ns); err != nil {
			c.done <- err
			return
		}
		d := &net.Dialer{Timeout: time.Second}
		for ctx.Err() == nil {
			r := request{start: time.Now()}
			r.served, r.err = getOnce(d, addr)
			r.end = time.Now()
			c.mu.Lock()
			c.reqs = append(c.reqs, r)
			c.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(gap):
			}
		}
		c.done <- nil
	}()
	t.Cleanup(func() { c.finish(t) })
	return c
}

// finish stops the client and returns every request it made.
func (c *anycastClient) finish(t *testing.T) []request {
	t.Helper()
	if c.stop != nil {
		c.stop()
		if err := <-c.done; err != nil {
			t.Errorf("client: %v", err)
		}
		c.stop = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reqs)
}

// getOnce makes one HTTP/1.0 request on a new connection and returns the body.
func getOnce(d *net.Dialer, addr string) (string, error) {
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	return getOn(conn, 2*time.Second)
}

// getOn makes one HTTP/1.0 request on conn, answered within within, closes conn and returns
// the body of a 200.
func getOn(conn net.Conn, within time.Duration) (string, error) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: anycast\r\n\r\n"); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	resp, err := io.ReadAll(conn)
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	head, body, ok := strings.Cut(string(resp), "\r\n\r\n")
	status, _, _ := strings.Cut(head, "\r\n")
	if !ok || !strings.Contains(status, " 200 ") {
		return "", fmt.Errorf("response %q: expected 200 and a body", resp)
	}
	return body, nil
}
