package vrrp

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// vigil against an independent VRRP implementation: FRR's vrrpd (8.4, Debian's frr), with zebra,
// in a namespace of its own. Keepalived's maintainer has never tested against FRR
// (keepalived#2573); these tests do it for vigil, beside the Keepalived interop tests
// (wire_test.go), for VRRPv2 and v3, IPv4 and IPv6, through five scenarios: who is master at
// start, a kill and a takeover, preemption back, a graceful priority-0 handover, and the
// tie-break on the primary address when two masters meet.
//
// FRR's vrrpd needs, for each virtual router and family, a macvlan on the interface with the
// VRRP MAC (00:00:5e:00:01:VRID, or :02: for IPv6) and the virtual address on it; vrrpd finds it
// by its MAC and holds it protodown while backup.

// frrVRRP is vrrpd's view of one virtual router and family.
type frrVRRP struct {
	Status   string `json:"status"`
	Priority int    `json:"effectivePriority"`
	Primary  string `json:"primaryAddress"`
}

// frrState asks vrrpd for virtual router vrid's state in family v4 or v6 ("" when it does not
// answer).
func frrState(r *testenv.FRR, vrid int, ipv6 bool) frrVRRP {
	out, err := r.Vty(fmt.Sprintf("show vrrp %d json", vrid))
	if err != nil {
		return frrVRRP{}
	}
	var routers []struct {
		VRID int     `json:"vrid"`
		V4   frrVRRP `json:"v4"`
		V6   frrVRRP `json:"v6"`
	}
	if json.Unmarshal([]byte(out), &routers) != nil {
		return frrVRRP{}
	}
	for _, x := range routers {
		if x.VRID == vrid {
			if ipv6 {
				return x.V6
			}
			return x.V4
		}
	}
	return frrVRRP{}
}

type frrCase struct {
	name    string
	version int
	ipv6    bool
	advert  time.Duration
	// vigilAddr is vigil's IPv4 address on eth0 (FRR has 192.0.2.2); default 192.0.2.1.
	vigilAddr string
}

func (c frrCase) vip() string {
	if c.ipv6 {
		return "2001:db8::100"
	}
	return "192.0.2.100"
}

// vrrpdConf is FRR's configuration of virtual router 51 at priority prio.
func (c frrCase) vrrpdConf(prio int) string {
	ip := "ip " + c.vip()
	if c.ipv6 {
		ip = "ipv6 " + c.vip()
	}
	return fmt.Sprintf("interface eth0\n vrrp 51 version %d\n vrrp 51 priority %d\n vrrp 51 advertisement-interval %d\n vrrp 51 %s\n",
		c.version, prio, c.advert.Milliseconds(), ip)
}

// vigilConf is vigil's instance of virtual router 51 at priority prio.
func (c frrCase) vigilConf(prio int) string {
	bits := "/24"
	if c.ipv6 {
		bits = "/64"
	}
	return instanceConf("", "vigil", 51, c.version, prio, fmt.Sprintf("%g", c.advert.Seconds()), "", c.vip()+bits, "")
}

// frrLab is vigil's namespace and FRR's, joined by a veth pair (eth0 both), FRR's side with the
// macvlan vrrpd wants.
func frrLab(t *testing.T, c frrCase) (nsV, nsF *testenv.Namespace, r *testenv.FRR) {
	testenv.RequireFRR(t, "vrrpd")
	nsV, nsF = testenv.NewNamespace(t, "fv"), testenv.NewNamespace(t, "ff")
	testenv.Veth(t, nsV, "eth0", nsF, "eth0")
	nsV.Addr(t, "eth0", cmp.Or(c.vigilAddr, "192.0.2.1")+"/24")
	nsF.Addr(t, "eth0", "192.0.2.2/24")
	nsV.Addr(t, "eth0", "2001:db8::1/64")
	nsF.Addr(t, "eth0", "2001:db8::2/64")
	mac, name, vip := "00:00:5e:00:01:33", "vrrp4-51", c.vip()+"/24"
	if c.ipv6 {
		mac, name, vip = "00:00:5e:00:02:33", "vrrp6-51", c.vip()+"/64"
	}
	nsF.Run(t, "ip", "link", "add", name, "link", "eth0", "type", "macvlan", "mode", "bridge")
	nsF.Run(t, "ip", "link", "set", "dev", name, "address", mac)
	nsF.Run(t, "ip", "addr", "add", vip, "dev", name)
	nsF.Run(t, "ip", "link", "set", "dev", name, "up")
	r = testenv.StartFRR(t, nsF)
	return nsV, nsF, r
}

// vrrpBlocked drops VRRP (IP protocol 112) arriving in ns, or lets it through again.
func vrrpBlocked(t *testing.T, ns *testenv.Namespace, blocked bool) {
	t.Helper()
	if blocked {
		ns.Run(t, "nft", "add table inet vgltest")
		ns.Run(t, "nft", "add chain inet vgltest in { type filter hook input priority 0 ; }")
		ns.Run(t, "nft", "add rule inet vgltest in meta l4proto 112 drop")
		return
	}
	ns.Run(t, "nft", "delete table inet vgltest")
}

func frrCases() []frrCase {
	return []frrCase{
		{name: "v2-ipv4", version: 2, advert: time.Second},
		{name: "v3-ipv4", version: 3, advert: 200 * time.Millisecond},
		{name: "v3-ipv6", version: 3, ipv6: true, advert: 200 * time.Millisecond},
	}
}

func TestInteropWithFRR(t *testing.T) {
	t.Parallel()
	for _, c := range frrCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testenv.RequireTool(t, "nft")
			nsV, nsF, r := frrLab(t, c)
			vip := netip.MustParseAddr(c.vip())
			// Master down interval: 3 adverts and the skew; the waits allow three times that.
			down := 3*c.advert + c.advert
			within := 3*down + 2*time.Second

			// 1. Who is master at start: FRR at 200, vigil at 100.
			r.Start(t, "vrrpd", c.vrrpdConf(200), nil)
			v := startVigil(t, nsV, c.vigilConf(100))
			testenv.WaitFor(t, within, "FRR (200) master, vigil (100) backup", func() bool {
				st, _ := v.instance("VI_1")
				return frrState(r, 51, c.ipv6).Status == "Master" && st.State == "BACKUP" && st.MasterAddr.IsValid()
			})
			if hasAddr(t, nsV, "eth0", vip) {
				t.Fatal("vigil holds the VIP as backup")
			}

			// 2. A kill and a takeover: vrrpd dies without a word; vigil takes over after
			// its master down interval.
			r.Kill("vrrpd")
			took := testenv.WaitFor(t, within, "vigil master after FRR's vrrpd was killed", func() bool {
				return v.state("VI_1") == "MASTER" && hasAddr(t, nsV, "eth0", vip)
			})
			// At least the master down interval (3 adverts and the skew) after FRR's last
			// advert, which went at most one interval before the kill.
			if early := 2*c.advert + skew(100, c.advert); took < early {
				t.Errorf("vigil took over %v after the kill, before its master down interval allows (%v)", took, early)
			}

			// 3. Preemption back: vrrpd again at 200 preempts vigil.
			r.Start(t, "vrrpd", c.vrrpdConf(200), nil)
			testenv.WaitFor(t, within, "FRR (200) preempting vigil (100)", func() bool {
				return frrState(r, 51, c.ipv6).Status == "Master" && v.state("VI_1") == "BACKUP" && !hasAddr(t, nsV, "eth0", vip)
			})

			// 4. A graceful handover: vigil at 250 preempts FRR, then stops; its priority 0
			// advert makes FRR master at once (skew time), well before a master down interval.
			v.reload(t, c.vigilConf(250))
			testenv.WaitFor(t, within, "vigil (250) preempting FRR (200)", func() bool {
				return v.state("VI_1") == "MASTER" && frrState(r, 51, c.ipv6).Status == "Backup"
			})
			v.stop(t, 10*time.Second)
			handover := testenv.WaitFor(t, within, "FRR master after vigil resigned", func() bool {
				return frrState(r, 51, c.ipv6).Status == "Master"
			})
			if limit := down - c.advert; handover >= limit {
				t.Errorf("FRR took %v to take over from a resigning vigil, not less than a master down interval (%v): no priority 0 advert heard?", handover, limit)
			}

			// 5. The tie-break: vigil and FRR at 200 both master while VRRP cannot cross
			// (dropped on both sides); once it can, the one with the lower primary address
			// goes backup.
			v = startVigil(t, nsV, c.vigilConf(200))
			vrrpBlocked(t, nsV, true)
			vrrpBlocked(t, nsF, true)
			testenv.WaitFor(t, within, "two masters while VRRP is dropped", func() bool {
				return v.state("VI_1") == "MASTER" && frrState(r, 51, c.ipv6).Status == "Master"
			})
			vAddr := v.snapshotPrimary(t)
			fAddr := netip.MustParseAddr(frrState(r, 51, c.ipv6).Primary)
			if c.ipv6 {
				// vrrpd speaks from its macvlan's link-local address.
				fAddr = linkLocal(t, nsF, "vrrp6-51")
			}
			vrrpBlocked(t, nsV, false)
			vrrpBlocked(t, nsF, false)
			vigilWins := vAddr.Compare(fAddr) > 0
			testenv.WaitFor(t, within, fmt.Sprintf("one master once VRRP crosses again (vigil %s, FRR %s: vigil wins %v)", vAddr, fAddr, vigilWins), func() bool {
				vs, fs := v.state("VI_1"), frrState(r, 51, c.ipv6).Status
				if vigilWins {
					return vs == "MASTER" && fs == "Backup"
				}
				return vs == "BACKUP" && fs == "Master"
			})
			t.Logf("tie-break at priority 200: vigil %s, FRR %s; vigil master: %v", vAddr, fAddr, vigilWins)
		})
	}
}

// snapshotPrimary is the address vigil's instance advertises from (its primary address on
// eth0): what it shows as master address while master.
func (p *vigilProc) snapshotPrimary(t *testing.T) netip.Addr {
	t.Helper()
	st, ok := p.instance("VI_1")
	if !ok || !st.MasterAddr.IsValid() || st.State != "MASTER" {
		t.Fatalf("vigil is %q (%v), want MASTER with its own address", st.State, st.MasterAddr)
	}
	return st.MasterAddr
}

// linkLocal is the IPv6 link-local address of ifname in ns.
func linkLocal(t *testing.T, ns *testenv.Namespace, ifname string) netip.Addr {
	t.Helper()
	out := ns.Run(t, "ip", "-6", "-o", "addr", "show", "dev", ifname, "scope", "link")
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	t.Fatalf("no link-local address on %s: %q", ifname, out)
	return netip.Addr{}
}
