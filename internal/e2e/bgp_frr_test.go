package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// The anycast lab: a router R running FRR (AS 65000), two vigil nodes N1 (AS 65001) and N2
// (AS 65002) that each serve the virtual address from their own backends and announce it to R,
// and a client C behind R.
//
//	C 198.51.100.2 ── 198.51.100.1 R 192.0.2.1 ── 192.0.2.2 N1 (lo 192.0.2.100)
//	                                 192.0.2.5 ── 192.0.2.6 N2 (lo 192.0.2.100)
const (
	anycastVIP  = "192.0.2.100"
	anycastPort = 80
	// bgpHoldDown is vigil's hold_down: the least time between announcing and withdrawing
	// the address (either way round).
	bgpHoldDown = 3 * time.Second
	// withdrawBound is how soon after the pool's down decision the router must have one path.
	withdrawBound = time.Second
)

// anycastNode is one vigil node of the lab.
type anycastNode struct {
	name      string
	ns        *testenv.Namespace
	addr      string // on the link to the router; the BGP next hop
	proc      *process
	backends  []*anycastBackend
	configTxt string
}

// TestBGPAnycastWithECMPWithdrawsTheNodeThatLosesQuorumAndReturnsItAfterHoldDown runs the
// vigil binary on two nodes that announce one address to a real FRR router with ECMP, while a
// client behind the router opens a new connection per request all along:
//
//   - both pools healthy: the router's kernel route has both nodes as next hops and both
//     serve the client;
//   - one of N1's two backends fails its check, so N1's pool (quorum 2) loses quorum while its
//     other backend still serves: the router has only N2 within a second of that decision;
//   - the backend recovers at once: N1's route returns only when the hold-down since the
//     withdrawal has passed, not before, and both nodes serve again;
//   - no client request fails (see the allowance at the end).
func TestBGPAnycastWithECMPWithdrawsTheNodeThatLosesQuorumAndReturnsItAfterHoldDown(t *testing.T) {
	t.Parallel()
	testenv.RequireRoot(t)
	frrBinaries(t) // skip before building anything when FRR is missing
	vigilBin := buildVigil(t)

	r := testenv.NewNamespace(t, "bgpR")
	c := testenv.NewNamespace(t, "bgpC")
	nodes := []*anycastNode{
		{name: "n1", ns: testenv.NewNamespace(t, "bgpN1"), addr: "192.0.2.2"},
		{name: "n2", ns: testenv.NewNamespace(t, "bgpN2"), addr: "192.0.2.6"},
	}
	router, watch := startAnycastRouter(t, r, c, nodes[0].ns, nodes[1].ns)

	for i, n := range nodes {
		n.ns.Run(t, "ip", "route", "add", "default", "via", []string{"192.0.2.1", "192.0.2.5"}[i])
		n.ns.Run(t, "ip", "addr", "add", anycastVIP+"/32", "dev", "lo")
		for _, port := range []int{8081, 8082} {
			n.backends = append(n.backends, startAnycastBackend(t, n.ns, fmt.Sprintf("%s-%d", n.name, port), fmt.Sprintf("127.0.0.1:%d", port)))
		}
		n.configTxt = anycastConfig(65001+uint32(i), n.addr, []string{"192.0.2.1", "192.0.2.5"}[i])
		conf := filepath.Join(t.TempDir(), n.name+".conf")
		if err := os.WriteFile(conf, []byte(n.configTxt), 0o644); err != nil {
			t.Fatal(err)
		}
		n.proc = newProcess(t, "ip", "netns", "exec", n.ns.Name, vigilBin, "-f", conf, "--log-format", "text")
		n.proc.start(func() bool { return strings.Contains(n.proc.out.String(), `msg="bgp speaker started"`) })
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s configuration:\n%s\n%s log:\n%s", n.name, n.configTxt, n.name, n.proc.out.String())
			}
		})
	}
	n1, n2 := nodes[0], nodes[1]
	both := []string{n1.addr, n2.addr}

	// 1. Both pools healthy: two paths.
	ecmp := watch.waitGateways(t, both, time.Time{}, 20*time.Second, "both nodes announced")
	if got := router.ribNexthops(t, anycastVIP+"/32"); !slices.Equal(got, both) {
		t.Fatalf("zebra's route to %s: next hops %v, want %v (ECMP)", anycastVIP, got, both)
	}
	t.Logf("ECMP: the router's kernel route to %s has next hops %v (zebra agrees)", anycastVIP, both)
	client := startAnycastClient(t, c, fmt.Sprintf("%s:%d", anycastVIP, anycastPort), 5*time.Millisecond)
	// A withdrawal sooner than hold_down after the announcement would wait for it; let it pass
	// (the announcement came before the router had the route), and let the client run a while.
	time.Sleep(max(bgpHoldDown, time.Second) + 200*time.Millisecond)

	// 2. One of N1's backends fails its check: N1's pool loses quorum, its route goes.
	failedAt := time.Now()
	n1.backends[0].failing.Store(true)
	single := watch.waitGateways(t, []string{n2.addr}, ecmp.at, 5*time.Second, "N1's route withdrawn")
	n1log := n1.proc.out.String()
	quorumLost, ok := firstLogAfter(logTimes(n1log, "quorum-lost"), failedAt)
	if !ok {
		t.Fatalf("N1 never logged quorum-lost after %v", failedAt.Format(time.RFC3339Nano))
	}
	withdrawn, ok := firstLogAfter(logTimes(n1log, "bgp withdraw"), failedAt)
	if !ok {
		t.Fatalf("N1 never logged bgp withdraw after %v", failedAt.Format(time.RFC3339Nano))
	}
	latency := single.at.Sub(quorumLost)
	t.Logf("withdraw: N1's pool lost quorum %v after its backend began failing; vigil withdrew %v later; the router had one path (%s) %v after the pool's decision (last seen with two paths %v after it)",
		quorumLost.Sub(failedAt).Round(time.Millisecond), withdrawn.Sub(quorumLost).Round(time.Millisecond), n2.addr,
		latency.Round(time.Millisecond), single.before.Sub(quorumLost).Round(time.Millisecond))
	if latency > withdrawBound {
		t.Errorf("the router still had N1's path %v after N1's pool lost quorum; want within %v", latency, withdrawBound)
	}
	if got := router.ribNexthops(t, anycastVIP+"/32"); !slices.Equal(got, []string{n2.addr}) {
		t.Errorf("zebra's route to %s after the withdrawal: next hops %v, want [%s]", anycastVIP, got, n2.addr)
	}

	// 3. The backend recovers at once, well inside the hold-down: the pool regains quorum
	// within a check, but the route may return only hold_down after the withdrawal.
	time.Sleep(100 * time.Millisecond)
	repairedAt := time.Now()
	n1.backends[0].failing.Store(false)
	back := watch.waitGateways(t, both, single.at, bgpHoldDown+5*time.Second, "N1's route back")
	n1log = n1.proc.out.String()
	quorumGained, ok := firstLogAfter(logTimes(n1log, "quorum-gained"), repairedAt)
	if !ok {
		t.Fatalf("N1 never logged quorum-gained after %v", repairedAt.Format(time.RFC3339Nano))
	}
	announced, ok := firstLogAfter(logTimes(n1log, "bgp announce"), repairedAt)
	if !ok {
		t.Fatalf("N1 never logged bgp announce after %v", repairedAt.Format(time.RFC3339Nano))
	}
	t.Logf("return: N1's pool regained quorum %v after the withdrawal; vigil announced %v after the withdrawal (hold_down %v); the router had both paths %v after the withdrawal",
		quorumGained.Sub(withdrawn).Round(time.Millisecond), announced.Sub(withdrawn).Round(time.Millisecond), bgpHoldDown,
		back.at.Sub(withdrawn).Round(time.Millisecond))
	if !quorumGained.Before(withdrawn.Add(bgpHoldDown)) {
		t.Fatalf("N1's pool regained quorum %v after the withdrawal, not inside the hold-down %v: the test proves nothing about it", quorumGained.Sub(withdrawn), bgpHoldDown)
	}
	// The log's times are truncated to the millisecond; 10 ms covers that and the moment
	// between the speaker reading its clock and logging.
	if early := withdrawn.Add(bgpHoldDown - 10*time.Millisecond); back.at.Before(early) || announced.Before(early) {
		t.Errorf("N1's route returned before the hold-down: announced %v, on the router %v after the withdrawal; hold_down %v",
			announced.Sub(withdrawn), back.at.Sub(withdrawn), bgpHoldDown)
	}
	if late := withdrawn.Add(bgpHoldDown + time.Second); back.at.After(late) {
		t.Errorf("N1's route returned %v after the withdrawal; want within hold_down %v + 1s", back.at.Sub(withdrawn), bgpHoldDown)
	}
	if got := router.ribNexthops(t, anycastVIP+"/32"); !slices.Equal(got, both) {
		t.Errorf("zebra's route to %s after the return: next hops %v, want %v", anycastVIP, got, both)
	}
	time.Sleep(time.Second)

	// 4. The client's view.
	reqs := client.finish(t)
	changes := watch.history()
	checkAnycastRequests(t, reqs, changes, []phase{
		{name: "ECMP", from: ecmp.at, to: failedAt, want: []string{"n1", "n2"}},
		{name: "withdrawn", from: single.at, to: back.before, want: []string{"n2"}},
		{name: "returned", from: back.at, to: time.Now(), want: []string{"n1", "n2"}},
	})
}

// anycastBGP is a node's bgp block: its session to the router, with hold_down.
func anycastBGP(as uint32, self, router string, holdDown time.Duration) string {
	return fmt.Sprintf(`bgp {
  local_as %d
  router_id %s
  hold_down %g
  graceful_shutdown_wait 0
  neighbor %s {
    remote_as 65000
    source_address %s
    hold_time 3
    keepalive 1
  }
}
`, as, self, holdDown.Seconds(), router, self)
}

// startAnycastRouter joins the router r to the nodes n1, n2 and the client c as the anycast
// lab draws them, and runs FRR on r with ECMP over both nodes (hashed on ports too, so that
// the client's connections, from one address, spread over both paths). It returns the router
// and a watcher of its kernel route to the address.
func startAnycastRouter(t *testing.T, r, c, n1, n2 *testenv.Namespace) (*frrRouter, *routeWatcher) {
	t.Helper()
	linkNamespaces(t, r, "to-n1", "192.0.2.1/30", n1, "eth0", "192.0.2.2/30")
	linkNamespaces(t, r, "to-n2", "192.0.2.5/30", n2, "eth0", "192.0.2.6/30")
	linkNamespaces(t, r, "to-c", "198.51.100.1/30", c, "eth0", "198.51.100.2/30")
	c.Run(t, "ip", "route", "add", "default", "via", "198.51.100.1")
	r.Run(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	r.Run(t, "sysctl", "-q", "-w", "net.ipv4.fib_multipath_hash_policy=1")
	router := startFRR(t, r, `frr defaults datacenter
hostname R
log stdout informational
router bgp 65000
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 bgp bestpath as-path multipath-relax
 neighbor 192.0.2.2 remote-as 65001
 neighbor 192.0.2.2 passive
 neighbor 192.0.2.6 remote-as 65002
 neighbor 192.0.2.6 passive
 address-family ipv4 unicast
  maximum-paths 2
 exit-address-family
`)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FRR logs:\n%s", router.Logs())
		}
	})
	watch := watchRoute(t, r, anycastVIP+"/32")
	return router, watch
}

// anycastConfig is a node's keepalived.conf: a BGP session to the router, and the virtual
// address served by two backends on the node's loopback with quorum 2, so that one failing
// backend withdraws the route while the other still serves the connections that arrive
// before the router moves them.
func anycastConfig(as uint32, self, router string) string {
	var b strings.Builder
	b.WriteString(anycastBGP(as, self, router, bgpHoldDown))
	fmt.Fprintf(&b, `virtual_server %s %d {
  delay_loop 0.3
  lb_algo rr
  lb_kind NAT
  protocol TCP
  quorum 2
  announce {
    community %d:100
  }
`, anycastVIP, anycastPort, as)
	for _, port := range []int{8081, 8082} {
		fmt.Fprintf(&b, `  real_server 127.0.0.1 %d {
    HTTP_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 0.5
      retry 0
    }
  }
`, port)
	}
	b.WriteString("}\n")
	return b.String()
}

// phase is a stretch of the test in which the client's requests must be served by want.
type phase struct {
	name     string
	from, to time.Time
	want     []string
}

// checkAnycastRequests checks that no request failed and that in each phase every node of
// want, and no other, served requests that began inside it.
//
// The one failure a sequential client may see is the connection in flight while the router's
// next hops change: its later packets reach the other node, which has no such connection and
// resets it. (The kernel's hash-threshold multipath moves such flows both ways: those of the
// withdrawn node when it goes, half of the other node's when it returns.) Such a failure is
// allowed only when it is a reset and the request overlapped a change of the route the
// watcher saw, at most one per change; any other failure fails the test.
func checkAnycastRequests(t *testing.T, reqs []request, changes []routeState, phases []phase) {
	t.Helper()
	var during []routeState // the changes while the client ran
	if len(reqs) > 0 {
		for _, ch := range changes[1:] {
			if ch.at.After(reqs[0].start) {
				during = append(during, ch)
			}
		}
	}
	var failed, overlapping int
	served := make([]map[string]int, len(phases))
	for i := range served {
		served[i] = map[string]int{}
	}
	for _, r := range reqs {
		if r.err != nil {
			var across *routeState
			for i, ch := range during {
				if r.start.Before(ch.at) && r.end.After(ch.before) {
					across = &during[i]
				}
			}
			if across != nil && errors.Is(r.err, syscall.ECONNRESET) {
				overlapping++
				t.Logf("request at %v reset while the router's next hops changed to %v (between %v and %v): %v", r.start.Format("15:04:05.000"),
					across.gws, across.before.Format("15:04:05.000"), across.at.Format("15:04:05.000"), r.err)
			} else {
				failed++
				t.Errorf("request at %v (%v) failed: %v", r.start.Format("15:04:05.000"), r.end.Sub(r.start), r.err)
			}
			continue
		}
		node, _, _ := strings.Cut(r.served, "-")
		for i, p := range phases {
			if !r.start.Before(p.from) && r.end.Before(p.to) {
				served[i][node]++
				if !slices.Contains(p.want, node) {
					t.Errorf("%s: request %v after the phase began (%v before it ended) served by %s, want by one of %v",
						p.name, r.start.Sub(p.from), p.to.Sub(r.end), r.served, p.want)
				}
			}
		}
	}
	t.Logf("client: %d requests, each a new connection; %d failed, %d of them in flight across one of the %d route changes meanwhile",
		len(reqs), failed+overlapping, overlapping, len(during))
	if overlapping > len(during) {
		t.Errorf("%d requests failed across %d route changes; a sequential client has at most one in flight per change", overlapping, len(during))
	}
	for i, p := range phases {
		t.Logf("%s (%v): served by %v", p.name, p.to.Sub(p.from).Round(time.Millisecond), served[i])
		var got []string
		for n := range served[i] {
			got = append(got, n)
		}
		slices.Sort(got)
		if !slices.Equal(got, p.want) {
			t.Errorf("%s: requests served by %v, want by each of %v", p.name, served[i], p.want)
		}
	}
}

// The ECMP re-hash lab: the anycast lab's router, client and two vigil nodes, now on the
// nftables data plane in front of backends they share on a LAN behind them, so that a
// connection the router moves from one node to the other can reach the same backend.
//
//	C ── R ── N1 eth0 192.0.2.2   eth1 203.0.113.1 ─┐
//	       ── N2 eth0 192.0.2.6   eth1 203.0.113.2 ─┼─ bridge ── B 203.0.113.21, .22 (echo on 9000)
//	                                                 (conntrackd between N1 and N2 on it)
//
// What a re-hashed connection needs:
//   - the same backend on the new node: nftables_flow_hash, the same Maglev table from the
//     same backends on every node, indexed by a hash of the client's address and port;
//   - the same source at the backend: nftables_snat to an address both nodes share
//     (ecmpSNAT), not each node's own; B routes it back over both nodes (ECMP, hashed on
//     ports too), so a reply may come back through either node whatever node the request
//     went through;
//   - so every node needs every connection's conntrack entry for the replies:
//     conntrack_sync between the active nodes (no instance), the entries injected into each
//     kernel as they come, and TCP window tracking off on the nodes (each sees one direction
//     only of some connections). The flow hash then also keeps the backend of a connection
//     the router moves before its entry reached the other node.
const (
	ecmpSNAT      = "203.0.113.100"
	ecmpEchoPort  = 9000
	ecmpLongConns = 40
)

// ecmpNodeConfig is a node's configuration: BGP to the router, the echo service over B's two
// addresses; with continuity, the shared SNAT address, the flow hash and conntrack sync with
// the other node (runtime files in dir).
func ecmpNodeConfig(as uint32, self, router, peer, dir string, continuity bool) string {
	var b strings.Builder
	b.WriteString("global_defs {\n  dataplane nftables\n")
	if continuity {
		fmt.Fprintf(&b, "  nftables_snat %s\n  nftables_flow_hash\n  conntrack_sync {\n    interface eth1\n    peer %s\n    runtime_dir %s\n  }\n", ecmpSNAT, peer, dir)
	}
	b.WriteString("}\n" + anycastBGP(as, self, router, time.Second))
	fmt.Fprintf(&b, `virtual_server %s %d {
  delay_loop 0.5
  lb_algo rr
  lb_kind NAT
  protocol TCP
  announce {
  }
  real_server 203.0.113.21 %d {
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 203.0.113.22 %d {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`, anycastVIP, ecmpEchoPort, ecmpEchoPort, ecmpEchoPort)
	return b.String()
}

// ecmpRehash runs the lab with or without the continuity settings: 40 long-lived echo
// connections from C, spread over both nodes by the router; then the router drops N1's path
// (its BGP session shut down, N1 alive) and every connection runs on N2; then the path comes
// back and the router moves some connections back to N1. It returns the connections lost.
func ecmpRehash(t *testing.T, continuity bool) (lostWithdraw, lostReturn int) {
	testenv.RequireRoot(t)
	frrBinaries(t)
	if continuity {
		testenv.RequireTool(t, "conntrackd")
	}
	vigilBin := buildVigil(t)
	r := testenv.NewNamespace(t, "ecR")
	c := testenv.NewNamespace(t, "ecC")
	lan := testenv.NewNamespace(t, "ecL")
	back := testenv.NewNamespace(t, "ecB")
	n1, n2 := testenv.NewNamespace(t, "ecN1"), testenv.NewNamespace(t, "ecN2")
	lan.Run(t, "ip", "link", "add", "br0", "type", "bridge")
	lan.Run(t, "ip", "link", "set", "br0", "up")
	for i, m := range []struct {
		ns   *testenv.Namespace
		addr string
	}{{n1, "203.0.113.1/24"}, {n2, "203.0.113.2/24"}, {back, "203.0.113.21/24"}} {
		port := fmt.Sprintf("p%d", i)
		lan.Run(t, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth1", "netns", m.ns.Name)
		lan.Run(t, "ip", "link", "set", port, "master", "br0", "up")
		m.ns.Run(t, "ip", "addr", "add", m.addr, "dev", "eth1")
		m.ns.Run(t, "ip", "link", "set", "eth1", "up")
	}
	back.Run(t, "ip", "addr", "add", "203.0.113.22/24", "dev", "eth1")
	// B's way back to the shared address: both nodes, hashed on ports as the router does, so
	// a reply's node is not the request's.
	back.Run(t, "sysctl", "-q", "-w", "net.ipv4.fib_multipath_hash_policy=1")
	back.Run(t, "ip", "route", "add", ecmpSNAT+"/32", "nexthop", "via", "203.0.113.1", "nexthop", "via", "203.0.113.2")
	backNS := &testenv.Namespace{Name: back.Name}
	for _, ip := range []string{"203.0.113.21", "203.0.113.22"} {
		startEchoServer(t, backNS, fmt.Sprintf("%s:%d", ip, ecmpEchoPort))
	}
	router, watch := startAnycastRouter(t, r, c, n1, n2)
	nodes := []struct {
		ns         *testenv.Namespace
		self, gw   string
		peer, conf string
		proc       *process
	}{{ns: n1, self: "192.0.2.2", gw: "192.0.2.1", peer: "203.0.113.2"}, {ns: n2, self: "192.0.2.6", gw: "192.0.2.5", peer: "203.0.113.1"}}
	for i := range nodes {
		n := &nodes[i]
		n.ns.Run(t, "ip", "route", "add", "default", "via", n.gw)
		n.ns.Run(t, "ip", "addr", "add", anycastVIP+"/32", "dev", "lo")
		n.ns.Run(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
		if continuity {
			// Each node sees one direction only of the connections whose replies B sends
			// through the other: window tracking would find their ACKs out of window.
			n.ns.Run(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_tcp_be_liberal=1")
		}
		dir, err := os.MkdirTemp("", "vgec")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		text := ecmpNodeConfig(65001+uint32(i), n.self, n.gw, n.peer, dir, continuity)
		n.conf = filepath.Join(t.TempDir(), fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(n.conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		n.proc = newProcess(t, "ip", "netns", "exec", n.ns.Name, vigilBin, "-f", n.conf, "--log-format", "text")
		n.proc.start(func() bool { return strings.Contains(n.proc.out.String(), `msg="bgp speaker started"`) })
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("n%d log:\n%s", i+1, n.proc.out.String())
			}
		})
	}
	both := []string{"192.0.2.2", "192.0.2.6"}
	ecmp := watch.waitGateways(t, both, time.Time{}, 20*time.Second, "both nodes announced")

	// The long-lived connections, spread by the router over both nodes.
	addr := net.JoinHostPort(anycastVIP, fmt.Sprint(ecmpEchoPort))
	cNS := &testenv.Namespace{Name: c.Name}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A handshake can race the sync: its SYN-ACK comes back through the node that has not yet
	// heard of the connection (and is dropped), or the handshake's last ACK reaches the
	// forwarding node before the other's news that the backend answered. The retransmissions
	// usually win; a dial that ends in a reset is counted and made again.
	var wg sync.WaitGroup
	conns, setupFailed := openLongConns(ctx, t, cNS, addr, ecmpLongConns, 5, &wg)
	lost := func() (n int, why []string) {
		for _, lc := range conns {
			if err, _, _ := lc.status(); err != nil {
				n++
				why = append(why, fmt.Sprintf("connection %d: %v", lc.id, err))
			}
		}
		return n, why
	}
	t.Logf("%d long-lived connections open (%d dials failed on the way)", ecmpLongConns, setupFailed)
	time.Sleep(2 * time.Second)
	// A connection whose first messages raced the sync as its handshake did is not what this
	// test measures: it counts the connections lost when the paths change.
	before, why := lost()
	if before > ecmpLongConns/4 {
		t.Fatalf("%d connections lost before any path changed: %s", before, strings.Join(why, "; "))
	}
	if before > 0 {
		t.Logf("%d connections lost before any path changed (not counted): %s", before, strings.Join(why, "; "))
	}
	shut := func(on bool) {
		cmd := []string{"-c", "configure terminal", "-c", "router bgp 65000", "-c", "neighbor 192.0.2.2 shutdown"}
		if !on {
			cmd[len(cmd)-1] = "no neighbor 192.0.2.2 shutdown"
		}
		out, err := exec.Command(testenv.RequireTool(t, "vtysh"), append([]string{"--vty_socket", router.Dir()}, cmd...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("vtysh %v: %v: %s", cmd, err, out)
		}
	}
	shut(true)
	single := watch.waitGateways(t, []string{"192.0.2.6"}, ecmp.at, 10*time.Second, "N1's path withdrawn")
	time.Sleep(3 * time.Second)
	lostWithdraw, why = lost()
	lostWithdraw -= before
	t.Logf("N1's path withdrawn at %v: %d of %d connections lost %s", single.at.Format("15:04:05.000"), lostWithdraw, ecmpLongConns, strings.Join(why, "; "))
	shut(false)
	back2 := watch.waitGateways(t, both, single.at, 20*time.Second, "N1's path back")
	time.Sleep(3 * time.Second)
	total, why := lost()
	lostReturn = total - lostWithdraw - before
	t.Logf("N1's path back at %v: %d more connections lost %s", back2.at.Format("15:04:05.000"), lostReturn, strings.Join(why, "; "))
	cancel()
	wg.Wait()
	return lostWithdraw, lostReturn
}

// TestBGPECMPRehashedConnectionsKeepTheirBackend: with the shared SNAT address, the flow hash
// and conntrack sync between the nodes, no connection is lost when the router moves it to the
// other node (a path withdrawn) or back (the path returns).
func TestBGPECMPRehashedConnectionsKeepTheirBackend(t *testing.T) {
	t.Parallel()
	w, r := ecmpRehash(t, true)
	if w+r != 0 {
		t.Errorf("with the continuity settings, %d connections were lost when N1's path went and %d when it came back; want none", w, r)
	}
}

// TestBGPECMPRehashedConnectionsAreLostWithoutContinuity: the same lab and path changes with
// each node masquerading to its own address, picking backends in turn and keeping its own
// conntrack table: the connections the router moves are reset.
func TestBGPECMPRehashedConnectionsAreLostWithoutContinuity(t *testing.T) {
	t.Parallel()
	w, r := ecmpRehash(t, false)
	if w+r == 0 {
		t.Errorf("without the continuity settings no connection was lost when the router moved them: the test cannot tell what they change")
	}
}
