package nftables

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/testenv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// sharedSNAT is the address every node of a cluster would share on the backend side (a VRRP
// address there, held by the master); in the lab the balancer holds it on its bridge.
var sharedSNAT = netip.MustParseAddr("198.51.100.254")

// flowsToBackends returns the balancer's conntrack entries of the given protocol that were
// translated to one of the lab's backends.
func flowsToBackends(t *testing.T, d *Dataplane, l *lab, proto uint8) []*netlink.ConntrackFlow {
	t.Helper()
	all, err := d.ct.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatalf("conntrack dump: %v", err)
	}
	var out []*netlink.ConntrackFlow
	for _, f := range all {
		src := addrPortOf(f.Reverse.SrcIP, f.Reverse.SrcPort)
		if f.Forward.Protocol == proto && slices.ContainsFunc(l.backends, func(b *testBackend) bool { return b.addr == src }) {
			out = append(out, f)
		}
	}
	return out
}

// TestSNATToASharedAddressKeepsTheClientPort: with Options.SNAT, a connection reaches its
// backend from the shared address and, when nothing else holds it, from the client's own port;
// so a node that takes the connection over (its synced conntrack entry, or a pick-up with the
// same backend) presents the backend with the same address and port.
func TestSNATToASharedAddressKeepsTheClientPort(t *testing.T) {
	l := newLab(t)
	testenv.Run(t, "ip", "-n", l.lb.Name, "addr", "add", sharedSNAT.String()+"/24", "dev", "br0")
	d := l.newDataplane(t, Options{SNAT: sharedSNAT})
	if err := d.Apply(context.Background(), webService(weighted(l, 1, 1, 1))); err != nil {
		t.Fatal(err)
	}
	listing := l.nft(t, "list", "chain", "inet", "vigil", "postrouting")
	if want := "snat ip to " + sharedSNAT.String(); !strings.Contains(listing, want) {
		t.Errorf("postrouting lacks %q:\n%s", want, listing)
	}
	c := newKeepAlive(dialOK(t, l, vip.String()))
	defer c.c.Close()
	if _, err := c.get(); err != nil {
		t.Fatalf("request through the shared source address: %v", err)
	}
	local := netip.MustParseAddrPort(c.c.LocalAddr().String())
	var found bool
	for _, f := range flowsToBackends(t, d, l, unix.IPPROTO_TCP) {
		if f.Forward.SrcPort != local.Port() {
			continue
		}
		found = true
		if got := addrPortOf(f.Reverse.DstIP, f.Reverse.DstPort); got != netip.AddrPortFrom(sharedSNAT, local.Port()) {
			t.Errorf("the backend answers %v, want %v (the shared address, the client's port)", got, netip.AddrPortFrom(sharedSNAT, local.Port()))
		}
	}
	if !found {
		t.Fatalf("no conntrack entry for the connection from %v", local)
	}
	d.mu.Lock()
	d.inPlaceKnown = false // make Reconcile read the table back
	d.mu.Unlock()
	if reps := d.Reconcile(context.Background()); len(reps) != 0 {
		t.Errorf("Reconcile after Apply with SNAT: repairs %v (the read-back must know the snat rule)", reps)
	}
}

func dialOK(t *testing.T, l *lab, addr string) net.Conn {
	t.Helper()
	c, err := l.clientWorker.dial(context.Background(), addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return c
}

// TestFlowHashSendsAFlowToTheSameBackendOnEveryNode plays two nodes one after the other on the
// lab's balancer: each has the same backends (listed in another order) and sees the same 40
// flows (UDP, from fixed client ports), in another order. With FlowHash every flow reaches the
// same backend on both; with numgen's turns (FlowHash off) the order decides, and most do not.
func TestFlowHashSendsAFlowToTheSameBackendOnEveryNode(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	svc := func(bs []dataplane.Backend) dataplane.Service {
		return dataplane.Service{Name: "dns", Protocol: dataplane.UDP, Listen: vip, Scheduler: dataplane.WeightedRoundRobin, Backends: bs}
	}
	const flows = 40
	ports := make([]int, flows)
	for i := range ports {
		ports[i] = 30000 + i
	}
	// node sends one datagram from each port, in order, through a data plane with opts, and
	// returns the backend that answered each port.
	node := func(opts Options, bs []dataplane.Backend, order []int) map[int]string {
		d := l.newDataplane(t, opts)
		defer d.Close()
		if err := d.Apply(ctx, svc(bs)); err != nil {
			t.Fatal(err)
		}
		got := map[int]string{}
		for _, p := range order {
			var c net.Conn
			var err error
			l.clientWorker.do(func() {
				c, err = net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("192.0.2.2"), Port: p}, net.UDPAddrFromAddrPort(vip))
			})
			if err != nil {
				t.Fatalf("udp from port %d: %v", p, err)
			}
			name, err := (&udpFlow{c: c}).ask()
			c.Close()
			if err != nil {
				t.Fatalf("flow from port %d: %v", p, err)
			}
			got[p] = name
		}
		// The next node starts without this one's conntrack entries, as a node that takes a
		// flow over without its state does.
		if err := d.ct.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
			t.Fatal(err)
		}
		return got
	}
	bs := weighted(l, 1, 1, 1)
	reversed := slices.Clone(bs)
	slices.Reverse(reversed)
	backwards := slices.Clone(ports)
	slices.Reverse(backwards)
	same := func(a, b map[int]string) (n int, spread map[string]int) {
		spread = map[string]int{}
		for _, p := range ports {
			spread[a[p]]++
			if a[p] == b[p] {
				n++
			}
		}
		return n, spread
	}

	n, spread := same(node(Options{FlowHash: true}, bs, ports), node(Options{FlowHash: true}, reversed, backwards))
	t.Logf("flow hash: %d of %d flows reached the same backend on both nodes; spread %v", n, flows, spread)
	if n != flows {
		t.Errorf("flow hash: only %d of %d flows reached the same backend on both nodes", n, flows)
	}
	if len(spread) != 3 {
		t.Errorf("flow hash: the flows reached %d backends, want all 3: %v", len(spread), spread)
	}
	n, _ = same(node(Options{}, bs, ports), node(Options{}, reversed, backwards))
	t.Logf("numgen: %d of %d flows reached the same backend on both nodes", n, flows)
	if n == flows {
		t.Errorf("numgen: every flow reached the same backend on both nodes; the test cannot tell flow hashing from it")
	}
}
