package nftables

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vishvananda/netns"
)

// vip and vip6 are the virtual addresses the balancer holds.
var (
	vip  = netip.MustParseAddrPort("192.0.2.10:80")
	vip6 = netip.MustParseAddrPort("[2001:db8:1::10]:80")
)

// lab is a client namespace and a balancer namespace joined by a veth pair (192.0.2.0/24, the
// balancer holds 192.0.2.10), and three backend namespaces (198.51.100.11-13) on a bridge in
// the balancer namespace, each running an HTTP server on port 8080 that answers its own name.
type lab struct {
	t        *testing.T
	client   *testenv.Namespace
	lb       *testenv.Namespace
	backends []*testBackend
	// dial opens TCP connections from the client namespace.
	clientWorker *nsWorker
	lbWorker     *nsWorker
}

type testBackend struct {
	name  string
	addr  netip.AddrPort
	addr6 netip.AddrPort
	conns atomic.Int64 // connections accepted
}

func newLab(t *testing.T) *lab {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "nft")
	l := &lab{t: t, client: testenv.NewNamespace(t, "nc"), lb: testenv.NewNamespace(t, "nlb")}
	testenv.Veth(t, l.lb, "vc", l.client, "eth0")
	l.lb.Addr(t, "vc", "192.0.2.1/24")
	l.lb.Addr(t, "lo", vip.Addr().String()+"/32")
	l.lb.Addr(t, "vc", "2001:db8:1::1/64")
	// IPv6 answers neighbour solicitations only for addresses on the asking interface.
	l.lb.Addr(t, "vc", vip6.Addr().String()+"/128")
	l.client.Addr(t, "eth0", "192.0.2.2/24")
	l.client.Addr(t, "eth0", "2001:db8:1::2/64")
	l.lb.Bridge(t, "br0")
	l.lb.Addr(t, "br0", "198.51.100.1/24")
	l.lb.Addr(t, "br0", "2001:db8:2::1/64")
	l.lb.Forwarding(t)
	for i := 1; i <= 3; i++ {
		ns := testenv.NewNamespace(t, fmt.Sprintf("nb%d", i))
		addr := fmt.Sprintf("198.51.100.1%d", i)
		l.lb.Attach(t, "br0", fmt.Sprintf("vb%d", i), ns, "eth0")
		ns.Addr(t, "eth0", addr+"/24")
		ns.Addr(t, "eth0", fmt.Sprintf("2001:db8:2::1%d/64", i))
		ns.Run(t, "ip", "route", "add", "default", "via", "198.51.100.1")
		ns.Run(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:2::1")
		b := &testBackend{name: fmt.Sprintf("b%d", i), addr: netip.MustParseAddrPort(addr + ":8080"),
			addr6: netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:2::1%d]:8080", i))}
		l.serve(ns.Name, b)
		l.backends = append(l.backends, b)
	}
	l.clientWorker = newNSWorker(t, l.client.Name)
	l.lbWorker = newNSWorker(t, l.lb.Name)
	return l
}

// serve runs b's HTTP server in namespace ns until the test ends.
func (l *lab) serve(ns string, b *testBackend) {
	t := l.t
	w := newNSWorker(t, ns)
	var lns []net.Listener
	for _, a := range []netip.AddrPort{b.addr, b.addr6} {
		var ln net.Listener
		var err error
		w.do(func() { ln, err = net.Listen("tcp", a.String()) })
		if err != nil {
			t.Fatalf("backend %s: listen %s in %s: %v", b.name, a, ns, err)
		}
		lns = append(lns, ln)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, b.name) }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.conns.Add(1)
			}
		},
		ReadHeaderTimeout: 5 * time.Second,
	}
	// UDP: answer each datagram with the backend's name.
	for _, a := range []netip.AddrPort{b.addr, b.addr6} {
		var pc net.PacketConn
		var err error
		w.do(func() { pc, err = net.ListenPacket("udp", a.String()) })
		if err != nil {
			t.Fatalf("backend %s: listen udp %s in %s: %v", b.name, a, ns, err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 1500)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo([]byte(b.name), from)
			}
		}()
		t.Cleanup(func() { pc.Close(); <-done })
	}
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Serve(ln) }()
	}
	t.Cleanup(func() { srv.Close(); wg.Wait() })
}

// nsWorker is a goroutine locked to an OS thread inside a namespace; sockets it creates belong
// to that namespace and can be used from any goroutine afterwards. The thread is never returned
// to the runtime (the goroutine exits locked, so the thread dies with it).
type nsWorker struct {
	jobs chan func()
}

func newNSWorker(t *testing.T, name string) *nsWorker {
	w := &nsWorker{jobs: make(chan func())}
	ready := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		runtime.LockOSThread()
		ns, err := netns.GetFromName(name)
		if err == nil {
			err = netns.Set(ns)
			ns.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for job := range w.jobs {
			job()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("enter namespace %s: %v", name, err)
	}
	t.Cleanup(func() { close(w.jobs); <-stopped })
	return w
}

func (w *nsWorker) do(f func()) {
	done := make(chan struct{})
	w.jobs <- func() { f(); close(done) }
	<-done
}

func (w *nsWorker) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	w.do(func() { c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr) })
	return c, err
}

// udpFlow is one UDP socket in a namespace: every datagram it sends belongs to the same flow.
type udpFlow struct{ c net.Conn }

func (w *nsWorker) udpFlow(t *testing.T, addr netip.AddrPort) *udpFlow {
	var c net.Conn
	var err error
	w.do(func() { c, err = net.Dial("udp", addr.String()) })
	if err != nil {
		t.Fatalf("udp socket to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpFlow{c: c}
}

func (f *udpFlow) ask() (string, error) {
	f.c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := f.c.Write([]byte("who")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := f.c.Read(buf)
	return string(buf[:n]), err
}

// udpAsk sends one datagram to addr from a new socket in w's namespace (so a new flow) and
// returns the answer.
func (w *nsWorker) udpAsk(addr netip.AddrPort) (string, error) {
	var c net.Conn
	var err error
	w.do(func() { c, err = net.Dial("udp", addr.String()) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("who")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// httpClient returns a client whose connections start in w's namespace; keepAlive false opens
// a new connection per request.
func httpClient(w *nsWorker, keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return w.dial(ctx, addr)
			},
			DisableKeepAlives: !keepAlive,
		},
	}
}

// get asks url and returns the backend's name.
func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return string(b), nil
}

// keepAliveConn is one TCP connection carrying several HTTP requests.
type keepAliveConn struct {
	c net.Conn
	r *bufio.Reader
}

func newKeepAlive(c net.Conn) *keepAliveConn { return &keepAliveConn{c: c, r: bufio.NewReader(c)} }

func (k *keepAliveConn) get() (string, error) {
	k.c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (l *lab) newDataplane(t *testing.T, opts Options) *Dataplane {
	t.Helper()
	opts.NetNS = "/var/run/netns/" + l.lb.Name
	d, err := New(slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// nftList lists the balancer namespace's ruleset (for failure messages and table checks).
func (l *lab) nft(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.lb.Name, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
