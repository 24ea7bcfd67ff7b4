package e2e

import (
	"cmp"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/status"
	"github.com/vigil-lb/vigil/internal/testenv"
)

// The VRRP lab: two load balancers lb1 and lb2 share a LAN (a bridge in its own namespace) with
// a web host and a client. The load balancers run the vigil binary with one VRRP instance for
// the virtual address and a userspace virtual server on it, balancing over the web host's two
// servers:
//
//	lan (bridge br0) ── lb1 192.0.2.1   ── lb2 192.0.2.2
//	                 ── web 192.0.2.21, 192.0.2.22 (HTTP on 8080)
//	                 ── client 192.0.2.100
//	VIP 192.0.2.10, virtual server 192.0.2.10:80
const (
	labVIP     = "192.0.2.10"
	labVSPort  = 80
	labWebPort = 8080
)

// vrrpLab is the lab's hosts and the vigil nodes on two of them.
type vrrpLab struct {
	t      *testing.T
	bin    string
	lan    *testenv.Namespace
	web    *testenv.Namespace
	client *testenv.Namespace
	nodes  [2]*vigilNode
}

// vigilNode is one load balancer: its namespace, its configuration and the vigil process.
type vigilNode struct {
	name string
	addr string
	ns   *testenv.Namespace
	conf string
	// files, when > 0, is the descriptor limit (soft and hard) vigil runs under (prlimit).
	files int
	proc  *vigilProc
	http  *http.Client // dials from inside the namespace
	// vipAdded is when the VIP last appeared on the node (from a netlink watch there).
	mu       sync.Mutex
	vipAdded time.Time
}

// vigilProc is one run of the vigil binary.
type vigilProc struct {
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

// startVigilIn runs the vigil binary on conf inside ns, under a descriptor limit of files when
// it is > 0. It is killed when the test ends, and what it logged is shown if the test failed.
func startVigilIn(t *testing.T, ns *testenv.Namespace, bin, conf string, files int) *vigilProc {
	t.Helper()
	cmd := ns.Command(bin, "-f", conf, "-n")
	if files > 0 {
		cmd = ns.Command(testenv.RequireTool(t, "prlimit"), fmt.Sprintf("--nofile=%d:%d", files, files), bin, "-f", conf, "-n")
	}
	p := &vigilProc{cmd: cmd, out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start vigil in %s: %v", ns.Name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("vigil in %s logged:\n%s", ns.Name, p.out.String())
		}
	})
	return p
}

// signal sends sig to vigil itself (ip netns exec and prlimit exec it, so the pid is vigil's).
func (p *vigilProc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

// nodeConfig is a load balancer's configuration: VRRPv3 every 200 ms, both nodes BACKUP with the
// same priority and nopreempt, so that a node taking the address keeps it until it dies; the
// instance tracks the virtual server, so a node that cannot serve it gives the address away, and
// the virtual server is probed through the node's own data plane while the node holds the
// address.
func nodeConfig(name string, extra string) string {
	return nodeConfigWith(name, "userspace", extra)
}

// nodeConfigWith is nodeConfig with another data plane.
func nodeConfigWith(name, dataplane, extra string) string {
	return labNodeConfig(name, labConfig{dataplane: dataplane, extra: extra})
}

// labConfig is what a node's configuration adds to nodeConfig's: a data plane, lines of
// global_defs and of the VRRP instance, and top-level blocks; noSelfProbe leaves the web
// virtual server's self_probe out; checks, when set, replace each of its real servers'
// TCP_CHECK; files, when > 0, runs the node's vigil under that descriptor limit (prlimit).
type labConfig struct {
	dataplane, global, instance, extra, checks string
	noSelfProbe                                bool
	files                                      int
}

// labNodeConfig is nodeConfig with c's additions.
func labNodeConfig(name string, c labConfig) string {
	selfProbe := "    self_probe 0.5 2\n"
	if c.noSelfProbe {
		selfProbe = ""
	}
	return fmt.Sprintf(`global_defs {
    router_id %s
    status_listen 127.0.0.1:9080
    reconcile_interval 0.5
    dataplane %s
%s}
vrrp_instance VI_WEB {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 51
    priority 100
    version 3
    advert_int 0.2
    virtual_ipaddress {
        %s/24 dev eth0
    }
    track_virtual_server {
        %s %d TCP
    }
%s}
%s%s`, name, cmp.Or(c.dataplane, "userspace"), c.global, labVIP, labVIP, labVSPort, c.instance, labVirtualServerChecks(labVSPort, labWebPort, selfProbe, c.checks), c.extra)
}

// labVirtualServer is a virtual server on the VIP's port over the web host's two addresses at
// realPort, each checked by TCP_CHECK, with lines after delay_loop.
func labVirtualServer(port, realPort int, lines string) string {
	return labVirtualServerChecks(port, realPort, lines, "")
}

// labVirtualServerChecks is labVirtualServer with checks, when set, in place of each real
// server's TCP_CHECK.
func labVirtualServerChecks(port, realPort int, lines, checks string) string {
	return labPool(fmt.Sprintf("%s %d", labVIP, port), realPort, lines, checks)
}

// labPool is `virtual_server WHAT` (an address and port, `group NAME`) over the web host's two
// addresses at realPort, each checked by checks (TCP_CHECK when empty), with lines after
// delay_loop.
func labPool(what string, realPort int, lines, checks string) string {
	if checks == "" {
		checks = "        TCP_CHECK {\n            connect_timeout 1\n        }\n"
	}
	return fmt.Sprintf(`virtual_server %s {
    delay_loop 1
%s    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.0.2.21 %d {
%s    }
    real_server 192.0.2.22 %d {
%s    }
}
`, what, lines, realPort, checks, realPort, checks)
}

// newVRRPLab builds the namespaces, starts the web servers and both vigil nodes, and waits for
// one of them to be master and serve.
func newVRRPLab(t *testing.T) *vrrpLab { return newVRRPLabWith(t, "userspace") }

// newVRRPLabWith is newVRRPLab with the nodes on another data plane.
func newVRRPLabWith(t *testing.T, dataplane string) *vrrpLab {
	return newVRRPLabConf(t, func(string) labConfig { return labConfig{dataplane: dataplane} }, nil)
}

// newVRRPLabConf is newVRRPLab with each node's configuration from conf (by node name), and
// before, when set, run once the web host and the client exist and before the nodes start.
func newVRRPLabConf(t *testing.T, conf func(node string) labConfig, before func(l *vrrpLab)) *vrrpLab {
	testenv.RequireRoot(t)
	l := &vrrpLab{t: t, bin: buildVigil(t)}
	l.lan = testenv.NewNamespace(t, "lan")
	l.lan.Bridge(t, "br0")
	attach := func(prefix, port string, addrs ...string) *testenv.Namespace {
		ns := testenv.NewNamespace(t, prefix)
		l.lan.Attach(t, "br0", port, ns, "eth0")
		for _, a := range addrs {
			ns.Addr(t, "eth0", a)
		}
		return ns
	}
	l.web = attach("web", "pweb", "192.0.2.21/24", "192.0.2.22/24")
	l.client = attach("cli", "pcli", "192.0.2.100/24")
	for _, ip := range []string{"192.0.2.21", "192.0.2.22"} {
		startLabWebServer(t, l.web, net.JoinHostPort(ip, fmt.Sprint(labWebPort)))
	}
	if before != nil {
		before(l)
	}
	for i, name := range []string{"lb1", "lb2"} {
		n := &vigilNode{name: name, addr: fmt.Sprintf("192.0.2.%d", i+1)}
		n.ns = attach(name, "p"+name, n.addr+"/24")
		c := conf(name)
		if cmp.Or(c.dataplane, "userspace") != "userspace" {
			n.ns.Forwarding(t) // the kernel data planes forward, as a load balancer's host must
		}
		n.conf = filepath.Join(t.TempDir(), name+".conf")
		n.files = c.files
		if err := os.WriteFile(n.conf, []byte(labNodeConfig(name, c)), 0o644); err != nil {
			t.Fatal(err)
		}
		n.http = nsHTTPClient(n.ns, 2*time.Second)
		l.watchVIP(n)
		l.nodes[i] = n
	}
	l.start(l.nodes[0])
	testenv.WaitFor(t, 10*time.Second, "lb1 master", func() bool { return l.nodes[0].state() == "MASTER" })
	l.start(l.nodes[1])
	testenv.WaitFor(t, 10*time.Second, "lb2 backup and serving", func() bool {
		return l.nodes[1].state() == "BACKUP" && l.nodes[1].serving()
	})
	return l
}

// startLabWebServer serves HTTP on addr inside ns until the test ends.
func startLabWebServer(t *testing.T, ns *testenv.Namespace, addr string) {
	var ln net.Listener
	ns.Do(t, func() {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			t.Fatal(err)
		}
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, addr) }),
		ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// nsHTTPClient is an HTTP client whose connections are made inside ns, without keep-alive.
func nsHTTPClient(ns *testenv.Namespace, timeout time.Duration) *http.Client {
	return ns.HTTPClient(timeout)
}

// watchVIP records when the VIP appears on n, from a netlink watch inside its namespace.
func (l *vrrpLab) watchVIP(n *vigilNode) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	vip := netip.MustParseAddr(labVIP)
	go func() {
		defer close(done)
		_ = n.ns.DoErr(func() error {
			return netif.WatchAddresses(ctx, func(c netif.AddrChange) {
				if c.Addr == vip && c.Added {
					n.mu.Lock()
					n.vipAdded = time.Now()
					n.mu.Unlock()
				}
			})
		})
	}()
	l.t.Cleanup(func() { cancel(); <-done })
}

func (n *vigilNode) lastVIPAdded() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.vipAdded
}

// start runs vigil on n and waits until its status API answers.
func (l *vrrpLab) start(n *vigilNode) {
	l.t.Helper()
	n.proc = startVigilIn(l.t, n.ns, l.bin, n.conf, n.files)
	testenv.WaitFor(l.t, 10*time.Second, n.name+" status API", func() bool { _, err := n.status(); return err == nil })
}

// stop ends n's vigil with sig and waits for it to exit.
func (l *vrrpLab) stop(n *vigilNode, sig syscall.Signal) {
	l.t.Helper()
	n.proc.signal(sig)
	select {
	case <-n.proc.done:
	case <-time.After(10 * time.Second):
		l.t.Fatalf("%s did not exit within 10 s of %v", n.name, sig)
	}
}

func (n *vigilNode) status() (status.Snapshot, error) {
	var s status.Snapshot
	resp, err := n.http.Get("http://127.0.0.1:9080/api/v1/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// state is the VRRP instance's state, or "" when the status cannot be read.
func (n *vigilNode) state() string {
	s, err := n.status()
	if err != nil || len(s.VRRPInstances) == 0 {
		return ""
	}
	return s.VRRPInstances[0].State
}

// serving reports whether every virtual server of the node is served.
func (n *vigilNode) serving() bool {
	s, err := n.status()
	if err != nil || len(s.VirtualServers) == 0 {
		return false
	}
	for _, vs := range s.VirtualServers {
		if !vs.Serving {
			return false
		}
	}
	return true
}

// requestLog is what the clients saw: each request's start and end and whether it was served.
type requestLog struct {
	mu   sync.Mutex
	reqs []labRequest
}

type labRequest struct {
	start, end time.Time
	ok         bool
	err        error // why not, when the client kept it
}

// runClients sends requests to the virtual server from the client host with n concurrent
// clients, each a new connection, until ctx ends.
func (l *vrrpLab) runClients(ctx context.Context, n int, log *requestLog) *sync.WaitGroup {
	c := nsHTTPClient(l.client, 400*time.Millisecond)
	url := fmt.Sprintf("http://%s:%d/", labVIP, labVSPort)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				ok := false
				if resp, err := c.Get(url); err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = err == nil && resp.StatusCode == http.StatusOK
				}
				log.mu.Lock()
				log.reqs = append(log.reqs, labRequest{start: start, end: time.Now(), ok: ok})
				log.mu.Unlock()
				if !ok {
					time.Sleep(5 * time.Millisecond) // a failure returns at once; do not spin
				}
			}
		}()
	}
	return &wg
}

// firstServedAfter is the end of the first request that started at or after t and was served.
func (r *requestLog) firstServedAfter(t time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, q := range r.reqs {
		if q.ok && !q.start.Before(t) && (first.IsZero() || q.end.Before(first)) {
			first = q.end
		}
	}
	return first, !first.IsZero()
}

// failedBetween counts requests that started in [from, to) and were not served.
func (r *requestLog) failedBetween(from, to time.Time) (failed, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.reqs {
		if !q.start.Before(from) && q.start.Before(to) {
			total++
			if !q.ok {
				failed++
			}
		}
	}
	return failed, total
}
