package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// bridgeLab is three hosts (A and B run VRRP, H is a neighbour) on one Ethernet segment: a
// bridge in a fourth namespace with a veth to each host's eth0.
type bridgeLab struct {
	a, b, h *testenv.Namespace
}

func newBridgeLab(t *testing.T) bridgeLab {
	testenv.RequireRoot(t)
	sw := testenv.NewNamespace(t, "sw")
	sw.Bridge(t, "br0")
	// Multicast snooping off: the bridge floods the VRRP multicast group to every port.
	testenv.Run(t, "ip", "-n", sw.Name, "link", "set", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
	lab := bridgeLab{a: testenv.NewNamespace(t, "a"), b: testenv.NewNamespace(t, "b"), h: testenv.NewNamespace(t, "h")}
	for i, ns := range []*testenv.Namespace{lab.a, lab.b, lab.h} {
		sw.Attach(t, "br0", fmt.Sprintf("p%d", i+1), ns, "eth0")
		ns.Addr(t, "eth0", fmt.Sprintf("192.0.2.%d/24", i+1))
		ns.Addr(t, "eth0", fmt.Sprintf("2001:db8::%d/64", i+1))
	}
	return lab
}

// mac is ns's eth0 hardware address.
func mac(t *testing.T, ns *testenv.Namespace) string {
	t.Helper()
	f := strings.Fields(testenv.Run(t, "ip", "-n", ns.Name, "-br", "link", "show", "eth0"))
	if len(f) < 3 {
		t.Fatalf("ip -br link in %s: %q", ns, f)
	}
	return f[2]
}

// neighbour is ns's cache entry for ip on eth0: its link-layer address and state ("", "" if
// there is none). Reading it sends nothing.
func neighbour(t *testing.T, ns *testenv.Namespace, ip netip.Addr) (lladdr, state string) {
	t.Helper()
	// "2001:db8::100 dev eth0 lladdr 02:... STALE" (no "dev" with a dev filter).
	f := strings.Fields(testenv.Run(t, "ip", "-n", ns.Name, "neigh", "show", "to", ip.String(), "dev", "eth0"))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			lladdr = f[i+1]
		}
	}
	if len(f) > 0 {
		state = f[len(f)-1]
	}
	return lladdr, state
}

const neighVRRPConf = `global_defs {
  router_id %s
  # One announcement at takeover and no second burst: the first one must do.
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 1
  vrrp_garp_master_refresh 0
}
vrrp_instance VI_4 {
  state BACKUP
  interface eth0
  virtual_router_id 71
  version 3
  priority %[2]d
  advert_int 0.1
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 72
  version 3
  priority %[2]d
  advert_int 0.1
  virtual_ipaddress {
    2001:db8::100/64
  }
}
`

// TestNeighboursCachesFollowTheNewMaster: a host on the segment that talked to the virtual
// addresses while A was master has them cached at A's MAC. After A dies or resigns, B's
// gratuitous ARP and unsolicited neighbour advertisement must move those entries to B's MAC,
// with no traffic from the host (which would resolve the address itself and prove nothing).
//
// The neighbour keeps Linux's defaults, set explicitly here because a new namespace may
// inherit other values from the host: arp_accept=0 and accept_untracked_na=0 (an unsolicited
// ARP or NA never creates an entry, it only updates one that exists: why the host must have
// talked to the VIP before), drop_gratuitous_arp=0 and drop_unsolicited_na=0 (they are not
// dropped). A gratuitous ARP overrides an entry even inside its locktime (1 s), and an NA
// with the Override flag replaces the cached address; both leave the entry STALE, where a
// resolution of the host's own would have left it REACHABLE, which tells the two apart.
func TestNeighboursCachesFollowTheNewMaster(t *testing.T) {
	t.Parallel()
	for _, stop := range []string{"SIGKILL", "SIGTERM"} {
		t.Run(stop, func(t *testing.T) {
			t.Parallel()
			lab := newBridgeLab(t)
			for _, k := range []string{
				"net.ipv4.conf.all.arp_accept=0", "net.ipv4.conf.eth0.arp_accept=0",
				"net.ipv4.conf.all.drop_gratuitous_arp=0", "net.ipv4.conf.eth0.drop_gratuitous_arp=0",
				"net.ipv6.conf.all.drop_unsolicited_na=0", "net.ipv6.conf.eth0.drop_unsolicited_na=0",
				"net.ipv6.conf.all.accept_untracked_na=0", "net.ipv6.conf.eth0.accept_untracked_na=0",
			} {
				lab.h.Run(t, "sysctl", "-qw", k)
			}
			vip4, vip6 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100")
			macA, macB := mac(t, lab.a), mac(t, lab.b)

			a := startVigil(t, lab.a, fmt.Sprintf(neighVRRPConf, "a", 150))
			b := startVigil(t, lab.b, fmt.Sprintf(neighVRRPConf, "b", 100))
			testenv.WaitFor(t, 15*time.Second, "A master of both instances, B backup", func() bool {
				return a.state("VI_4") == "MASTER" && a.state("VI_6") == "MASTER" &&
					b.state("VI_4") == "BACKUP" && b.state("VI_6") == "BACKUP" &&
					hasAddr(t, lab.a, "eth0", vip4) && hasAddr(t, lab.a, "eth0", vip6)
			})
			// H talks to the virtual addresses (a UDP datagram each): its cache has them at
			// A's MAC.
			for _, ip := range []netip.Addr{vip4, vip6} {
				lab.h.Do(t, func() {
					c, err := net.Dial("udp", netip.AddrPortFrom(ip, 9).String())
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if _, err := c.Write([]byte("hello")); err != nil {
						t.Fatal(err)
					}
				})
				testenv.WaitFor(t, 3*time.Second, fmt.Sprintf("H resolving %v to A's MAC %s", ip, macA), func() bool {
					ll, _ := neighbour(t, lab.h, ip)
					return ll == macA
				})
			}

			start := time.Now()
			switch stop {
			case "SIGKILL":
				a.cmd.Process.Signal(syscall.SIGKILL)
				<-a.done
				// A's host is gone with it: nothing of A's answers any more.
				testenv.Run(t, "ip", "-n", lab.a.Name, "link", "set", "eth0", "down")
			case "SIGTERM":
				a.stop(t, 10*time.Second)
			}
			testenv.WaitFor(t, 5*time.Second, "B master of both instances", func() bool {
				return b.state("VI_4") == "MASTER" && b.state("VI_6") == "MASTER"
			})
			t.Logf("B master %v after %s", time.Since(start).Round(time.Millisecond), stop)

			for _, ip := range []netip.Addr{vip4, vip6} {
				var ll, st string
				took := testenv.WaitFor(t, 2*time.Second, fmt.Sprintf("H's entry for %v at B's MAC %s", ip, macB), func() bool {
					ll, st = neighbour(t, lab.h, ip)
					return ll == macB
				})
				t.Logf("H's entry for %v: %s %s, %v after B reported MASTER or less", ip, ll, st, took.Round(time.Millisecond))
				if st != "STALE" {
					t.Errorf("H's entry for %v is %s, want STALE (set by an unsolicited announcement, not by a resolution of H's own)", ip, st)
				}
			}
		})
	}
}
