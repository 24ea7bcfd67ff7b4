package vrrp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// The five scenarios of the FRR interop test (wire_frr_test.go), against Keepalived 2.2.7 (the
// one Debian packages), for VRRPv2 and v3, IPv4 and IPv6: who is master at start, a kill and a
// takeover, preemption back, a graceful priority-0 handover, and the tie-break on the primary
// address when two masters meet. Keepalived's state is whether it holds the VIP.
func TestKeepalivedFiveScenarios(t *testing.T) {
	t.Parallel()
	for _, c := range frrCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testenv.RequireTool(t, "nft")
			nsK, nsV := testenv.NewNamespace(t, "kk"), testenv.NewNamespace(t, "kv")
			testenv.Veth(t, nsK, "eth0", nsV, "eth0")
			nsK.Addr(t, "eth0", "192.0.2.2/24")
			nsV.Addr(t, "eth0", "192.0.2.1/24")
			nsK.Addr(t, "eth0", "2001:db8::2/64")
			nsV.Addr(t, "eth0", "2001:db8::1/64")
			bits := "/24"
			if c.ipv6 {
				bits = "/64"
			}
			vipCIDR := c.vip() + bits
			vip := netip.MustParseAddr(c.vip())
			adv := fmt.Sprintf("%g", c.advert.Seconds())
			conf := func(name string, prio int) string { return vrrpConf(name, c.version, prio, adv, vipCIDR, "") }
			down := 3*c.advert + c.advert
			within := 3*down + 3*time.Second
			kHas := func() bool { return hasAddr(t, nsK, "eth0", vip) }

			// 1. Keepalived at 200, vigil at 100.
			k := startKeepalived(t, nsK, conf("k", 200))
			v := startVigil(t, nsV, conf("v", 100))
			testenv.WaitFor(t, within, "Keepalived (200) master, vigil (100) backup", func() bool {
				st, _ := v.instance("VI_1")
				return kHas() && st.State == "BACKUP" && st.MasterAddr.IsValid()
			})

			// 2. Keepalived killed: vigil takes over at its master down timer.
			killedKeepalivedHandsOver(t, k, v, nsK, nsV, "VI_1", vipCIDR, c.advert)

			// 3. Keepalived back at 200 preempts vigil.
			k = startKeepalived(t, nsK, conf("k", 200))
			testenv.WaitFor(t, within, "Keepalived (200) preempting vigil (100)", func() bool {
				return kHas() && v.state("VI_1") == "BACKUP" && !hasAddr(t, nsV, "eth0", vip)
			})

			// 4. vigil at 250 preempts, then resigns: Keepalived master within the skew time.
			v.reload(t, conf("v", 250))
			testenv.WaitFor(t, within, "vigil (250) preempting Keepalived (200)", func() bool {
				return v.state("VI_1") == "MASTER" && !kHas()
			})
			v.stop(t, 10*time.Second)
			took := testenv.WaitFor(t, within, "Keepalived master after vigil resigned", kHas)
			if limit := down - c.advert; took >= limit {
				t.Errorf("Keepalived took %v to take over from a resigning vigil, not less than a master down interval (%v)", took, limit)
			}

			// 5. Both at 200 and both master while VRRP is dropped; once it crosses, the lower
			// primary address goes backup.
			v = startVigil(t, nsV, conf("v", 200))
			vrrpBlocked(t, nsV, true)
			vrrpBlocked(t, nsK, true)
			testenv.WaitFor(t, within, "two masters while VRRP is dropped", func() bool {
				return v.state("VI_1") == "MASTER" && kHas()
			})
			vAddr := v.snapshotPrimary(t)
			kAddr := netip.MustParseAddr("192.0.2.2")
			if c.ipv6 {
				kAddr = linkLocal(t, nsK, "eth0")
			}
			vigilWins := vAddr.Compare(kAddr) > 0
			vrrpBlocked(t, nsV, false)
			vrrpBlocked(t, nsK, false)
			testenv.WaitFor(t, within, fmt.Sprintf("one master once VRRP crosses (vigil %s, Keepalived %s: vigil wins %v)", vAddr, kAddr, vigilWins), func() bool {
				if vigilWins {
					return v.state("VI_1") == "MASTER" && !kHas()
				}
				return v.state("VI_1") == "BACKUP" && kHas()
			})
			t.Logf("tie-break at priority 200: vigil %s, Keepalived %s; vigil master: %v", vAddr, kAddr, vigilWins)
		})
	}
}
