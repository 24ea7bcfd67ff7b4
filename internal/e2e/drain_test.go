package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// Drain under load, against HAProxy: 200 requests a second through a balancer, half on
// keep-alive connections and half each on a new connection, while one of the two servers is
// drained. The drained server must get no new connection once the drain command has returned,
// its established connections must go on being served, and no request may fail. HAProxy 2.6's
// `set server BACKEND/SERVER state drain` on its stats socket runs the same load on the same
// host, in TCP mode as vigil's data planes are; both results are logged.
//
// The servers' health checks go to a port of their own (connect_port, HAProxy's check port), so
// that every connection a server counts carries traffic.

const (
	drainVSPort      = 81   // vigil's virtual server on the VIP
	drainRealPort    = 9090 // its real servers
	drainHAProxyPort = 8181 // HAProxy's frontend on lb1's own address
	drainHAReal      = 9191 // HAProxy's servers
	drainCheckPort   = 9099 // both balancers' health checks
	drainRate        = 200  // requests a second, half keep-alive, half new connections
)

// countingServer is an HTTP server that records when it accepted each connection and when it
// answered each request.
type countingServer struct {
	addr     string
	mu       sync.Mutex
	accepted []time.Time
	served   []time.Time
}

// startCountingServer serves on addr inside ns until the test ends.
func startCountingServer(t *testing.T, ns *testenv.Namespace, addr string) *countingServer {
	t.Helper()
	c := &countingServer{addr: addr}
	var ln net.Listener
	ns.Do(t, func() {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
	})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			c.mu.Lock()
			c.served = append(c.served, time.Now())
			c.mu.Unlock()
			io.WriteString(w, addr)
		}),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				c.mu.Lock()
				c.accepted = append(c.accepted, time.Now())
				c.mu.Unlock()
			}
		}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return c
}

// after counts the connections accepted and the requests served after t.
func (c *countingServer) after(t time.Time) (conns, served int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.accepted {
		if a.After(t) {
			conns++
		}
	}
	for _, s := range c.served {
		if s.After(t) {
			served++
		}
	}
	return conns, served
}

// drainResult is what one run of the load saw.
type drainResult struct {
	name                string
	requests, keepAlive int
	failed              int
	firstErrors         []string
	newConnsAfter       int // new connections the drained server accepted after the drain
	servedAfter         int // requests it served after the drain (on connections it had)
	heldConns           int // keep-alive connections it held when drained
	drainTook           time.Duration
	otherServedAfter    int
}

func (r drainResult) String() string {
	return fmt.Sprintf("%s: %d requests (%d on keep-alive connections), %d failed; the drained server held %d keep-alive connections, "+
		"served %d requests on them after the drain and accepted %d new connections after it; the drain command took %v; the other server served %d requests after it",
		r.name, r.requests, r.keepAlive, r.failed, r.heldConns, r.servedAfter, r.newConnsAfter, r.drainTook.Round(time.Millisecond), r.otherServedAfter)
}

// drainLoad sends drainRate requests a second to addr from the client host, half on ten
// keep-alive connections and half each on a new connection, for warm before running drain and
// for after after it; it returns what the clients and the servers saw.
func drainLoad(t *testing.T, client *testenv.Namespace, name, addr string, drained, other *countingServer, warm, after time.Duration, drain func() error) drainResult {
	t.Helper()
	const keepAlives, shorts = 10, 10
	perWorker := time.Second * (keepAlives + shorts) / drainRate
	r := drainResult{name: name}
	var mu sync.Mutex
	held := map[int]string{} // keep-alive worker → the server that answered it last
	record := func(keepAlive bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		r.requests++
		if keepAlive {
			r.keepAlive++
		}
		if err != nil {
			r.failed++
			if len(r.firstErrors) < 5 {
				r.firstErrors = append(r.firstErrors, err.Error())
			}
		}
	}
	conns := make([]*testenv.KeepAlive, keepAlives)
	client.Do(t, func() {
		for i := range conns {
			conns[i] = testenv.DialKeepAlive(t, addr)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// paced runs request every perWorker on a goroutine of its own until ctx ends or request
	// says to stop.
	paced := func(request func() bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(perWorker)
			defer tick.Stop()
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-tick.C:
					if !request() {
						return
					}
				}
			}
		}()
	}
	for i, k := range conns {
		paced(func() bool {
			body, err := k.Get("/", 3*time.Second)
			record(true, err)
			if err != nil {
				return false // the connection is lost; its failure is counted
			}
			mu.Lock()
			held[i] = body
			mu.Unlock()
			return true
		})
	}
	httpc := client.HTTPClient(3 * time.Second)
	for range shorts {
		paced(func() bool {
			resp, err := httpc.Get("http://" + addr + "/")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("GET: %s", resp.Status)
				}
			}
			record(false, err)
			return true
		})
	}
	time.Sleep(warm)
	mu.Lock()
	for _, srv := range held {
		if srv == drained.addr {
			r.heldConns++
		}
	}
	mu.Unlock()
	start := time.Now()
	if err := drain(); err != nil {
		cancel()
		wg.Wait()
		t.Fatalf("%s: drain: %v", name, err)
	}
	drainedAt := time.Now()
	r.drainTook = drainedAt.Sub(start)
	time.Sleep(after)
	cancel()
	wg.Wait()
	r.newConnsAfter, r.servedAfter = drained.after(drainedAt)
	_, r.otherServedAfter = other.after(drainedAt)
	return r
}

// drainLab is the VRRP lab on dataplane with, besides the lab's own, a virtual server on the
// VIP's drainVSPort over counting servers, and HAProxy on lb1 over counting servers of its own.
type drainLab struct {
	*vrrpLab
	vigil, haproxy [2]*countingServer
	socket         string // lb1's control socket
	haSocket       string // HAProxy's stats socket
}

func newDrainLab(t *testing.T, dataplane string) *drainLab {
	haproxy := testenv.RequireTool(t, "haproxy")
	dir := t.TempDir()
	d := &drainLab{socket: filepath.Join(dir, "lb1.sock"), haSocket: filepath.Join(dir, "haproxy.sock")}
	check := fmt.Sprintf("        TCP_CHECK {\n            connect_port %d\n            connect_timeout 1\n        }\n", drainCheckPort)
	d.vrrpLab = newVRRPLabConf(t, func(node string) labConfig {
		return labConfig{dataplane: dataplane,
			global: fmt.Sprintf("    control_socket %s\n    state_dir %s\n", filepath.Join(dir, node+".sock"), filepath.Join(dir, node+"-state")),
			extra:  labVirtualServerChecks(drainVSPort, drainRealPort, "", check)}
	}, func(l *vrrpLab) {
		for i, ip := range []string{"192.0.2.21", "192.0.2.22"} {
			startLabWebServer(t, l.web, fmt.Sprintf("%s:%d", ip, drainCheckPort))
			d.vigil[i] = startCountingServer(t, l.web, fmt.Sprintf("%s:%d", ip, drainRealPort))
			d.haproxy[i] = startCountingServer(t, l.web, fmt.Sprintf("%s:%d", ip, drainHAReal))
		}
	})
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global
    stats socket %s mode 600 level admin
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 192.0.2.1:%d
    default_backend be
backend be
    balance roundrobin
    server s1 192.0.2.21:%d check port %d inter 1s
    server s2 192.0.2.22:%d check port %d inter 1s
`, d.haSocket, drainHAProxyPort, drainHAReal, drainCheckPort, drainHAReal, drainCheckPort)), 0o644); err != nil {
		t.Fatal(err)
	}
	version, _ := exec.Command(haproxy, "-v").Output()
	t.Logf("comparing with %s", strings.SplitN(string(version), "\n", 2)[0])
	d.nodes[0].ns.Start(t, haproxy, "-db", "-f", conf)
	c := d.client.HTTPClient(time.Second)
	testenv.WaitFor(t, 10*time.Second, "HAProxy and vigil's virtual server serving", func() bool {
		for _, url := range []string{fmt.Sprintf("http://192.0.2.1:%d/", drainHAProxyPort), fmt.Sprintf("http://%s:%d/", labVIP, drainVSPort)} {
			resp, err := c.Get(url)
			if err != nil {
				return false
			}
			resp.Body.Close()
		}
		return true
	})
	return d
}

// haproxyCommand sends one command to HAProxy's stats socket and returns its answer.
func (d *drainLab) haproxyCommand(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", d.haSocket, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return strings.TrimSpace(string(b)), err
}

// ctl runs `vigil ctl` against lb1's control socket.
func (d *drainLab) ctl(args ...string) (string, error) { return vigilCtl(d.bin, d.socket, args...) }

// vigilCtl runs the vigil binary's `ctl` against the control socket at socket and returns what
// it printed, or an error with what it said.
func vigilCtl(bin, socket string, args ...string) (string, error) {
	out, err := exec.Command(bin, append([]string{"ctl", "--socket", socket}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("vigil ctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

func testDrainUnderLoad(t *testing.T, dataplane string) {
	d := newDrainLab(t, dataplane)
	vs := fmt.Sprintf("%s:%d", labVIP, drainVSPort)
	const warm, after = 2 * time.Second, 4 * time.Second

	v := drainLoad(t, d.client, "vigil "+dataplane, vs, d.vigil[0], d.vigil[1], warm, after, func() error {
		out, err := d.ctl("drain", vs, d.vigil[0].addr, "--reason", "drain under load")
		t.Logf("vigil ctl: %s", out)
		return err
	})
	h := drainLoad(t, d.client, "HAProxy", fmt.Sprintf("192.0.2.1:%d", drainHAProxyPort), d.haproxy[0], d.haproxy[1], warm, after, func() error {
		out, err := d.haproxyCommand("set server be/s1 state drain")
		if out != "" {
			return fmt.Errorf("HAProxy answered %q", out)
		}
		return err
	})
	t.Log(v)
	t.Log(h)
	if v.failed > 0 {
		t.Errorf("%d requests failed through vigil, e.g. %q", v.failed, v.firstErrors)
	}
	if v.newConnsAfter > 0 {
		t.Errorf("the drained server accepted %d new connections after the drain command returned", v.newConnsAfter)
	}
	if v.heldConns == 0 || v.servedAfter == 0 {
		t.Errorf("the drained server held %d keep-alive connections and served %d requests on them after the drain, want both > 0", v.heldConns, v.servedAfter)
	}
	if v.requests < drainRate*int((warm+after)/time.Second)*8/10 {
		t.Errorf("the load sent %d requests, want about %d", v.requests, drainRate*int((warm+after)/time.Second))
	}
	st, err := d.nodes[0].status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.VirtualServers {
		for _, rs := range s.RealServers {
			if rs.Address == d.vigil[0].addr && (rs.AdminState != "drain" || rs.AdminReason != "drain under load" || !rs.Up) {
				t.Errorf("status of the drained server: %+v", rs)
			}
		}
	}
}

func TestDrainUnderLoadUserspaceGivesTheDrainedServerNoNewConnectionAndFailsNothing(t *testing.T) {
	testDrainUnderLoad(t, "userspace")
}

func TestDrainUnderLoadNftablesGivesTheDrainedServerNoNewConnectionAndFailsNothing(t *testing.T) {
	testenv.RequireTool(t, "nft")
	testDrainUnderLoad(t, "nftables")
}
