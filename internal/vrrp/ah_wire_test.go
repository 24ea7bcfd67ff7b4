package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// ahConf is a VRRPv2 instance with Keepalived's auth_type AH.
func ahConf(name string, prio int, pass, unicast string) string {
	return fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_garp_master_delay 1
  vrrp_garp_master_repeat 1
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  version 2
  priority %d
  advert_int 1
  authentication {
    auth_type AH
    auth_pass %s
  }
  virtual_ipaddress {
    192.0.2.100/24
  }
  %s
}
`, name, prio, pass, unicast)
}

// keepalivedLog returns what Keepalived has logged so far.
func keepalivedLog(k *keepalived) string {
	f, ok := k.cmd.Stdout.(*os.File)
	if !ok {
		return ""
	}
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

// vigil and Keepalived in one virtual router with auth_type AH: the higher priority wins, each
// takes over when the other dies, and each restarted router (whose AH sequence counter starts
// again from 0) catches up with the other's and preempts, as between two Keepalived.
func TestInteropWithKeepalivedAH(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		unicastK, unicastV string
	}{
		{"multicast", "", ""},
		// Unicast leaves the TTL out of the ICV.
		{"unicast",
			"unicast_src_ip 192.0.2.1\n  unicast_peer {\n    192.0.2.2\n  }",
			"unicast_src_ip 192.0.2.2\n  unicast_peer {\n    192.0.2.1\n  }"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nsK, nsV := pair(t, "192.0.2.1/24", "192.0.2.2/24")
			vip := netip.MustParseAddr("192.0.2.100")
			const advert = time.Second
			dual := watchTwoMasters(t, nsK, nsV, vip)
			k := startKeepalived(t, nsK, ahConf("k", 150, "s3cret", tc.unicastK))
			v := startVigil(t, nsV, ahConf("v", 100, "s3cret", tc.unicastV))
			testenv.WaitFor(t, 15*time.Second, "Keepalived master holding the VIP, vigil backup", func() bool {
				return hasAddr(t, nsK, "eth0", vip) && v.state("VI_1") == "BACKUP" && !hasAddr(t, nsV, "eth0", vip)
			})
			time.Sleep(advert + advert/2)
			if st, _ := v.instance("VI_1"); st.State != "BACKUP" || st.MasterAddr != netip.MustParseAddr("192.0.2.1") || len(st.Dropped) > 0 {
				t.Fatalf("vigil while Keepalived is master: %s, master %v, dropped %v", st.State, st.MasterAddr, st.Dropped)
			}

			// Keepalived dies without resigning: vigil takes over at its master down timer.
			killedKeepalivedHandsOver(t, k, v, nsK, nsV, "VI_1", "192.0.2.100/24", advert)

			// Keepalived comes back at the higher priority with its counter at 0: it adopts
			// vigil's sequence number as backup, then preempts, and vigil accepts it.
			k = startKeepalived(t, nsK, ahConf("k", 150, "s3cret", tc.unicastK))
			took := testenv.WaitFor(t, 3*advert+skew(150, advert)+3*time.Second, "restarted Keepalived preempting vigil", func() bool {
				return hasAddr(t, nsK, "eth0", vip) && v.state("VI_1") == "BACKUP" && !hasAddr(t, nsV, "eth0", vip)
			})
			t.Logf("restarted Keepalived preempted after %v", took)
			if st, _ := v.instance("VI_1"); len(st.Dropped) > 0 {
				t.Errorf("vigil refused the restarted Keepalived's adverts: %v", st.Dropped)
			}

			// vigil restarts at a higher priority: same catch-up the other way.
			v.stop(t, 10*time.Second)
			v = startVigil(t, nsV, ahConf("v", 200, "s3cret", tc.unicastV))
			took = testenv.WaitFor(t, 3*advert+skew(200, advert)+3*time.Second, "restarted vigil preempting Keepalived", func() bool {
				return hasAddr(t, nsV, "eth0", vip) && v.state("VI_1") == "MASTER" && !hasAddr(t, nsK, "eth0", vip)
			})
			t.Logf("restarted vigil preempted after %v", took)
			time.Sleep(2 * advert)
			if hasAddr(t, nsK, "eth0", vip) || v.state("VI_1") != "MASTER" {
				t.Errorf("Keepalived did not stay backup to vigil at priority 200")
			}

			// vigil resigns (priority 0): Keepalived takes over at once (skew time).
			v.stop(t, 10*time.Second)
			took = testenv.WaitFor(t, 3*time.Second, "Keepalived taking over from the resigning vigil", func() bool {
				return hasAddr(t, nsK, "eth0", vip)
			})
			t.Logf("Keepalived took over %v after vigil was told to stop", took)
			if took > skew(150, advert)+advert {
				t.Errorf("Keepalived took %v to follow vigil's priority 0 advert, want about the skew time %v", took, skew(150, advert))
			}
			dual.check(advert)

			if l := keepalivedLog(k); strings.Contains(l, "IPSEC-AH") && strings.Contains(l, "invalid") {
				t.Errorf("Keepalived refused vigil's AH adverts:\n%s", tail(l, 20))
			}
		})
	}
}

// A router with another auth_pass is refused (counted as auth_failure), and its higher
// priority takes nothing from the master.
func TestKeepalivedAHWithAnotherPasswordIsRefused(t *testing.T) {
	t.Parallel()
	nsK, nsV := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	vip := netip.MustParseAddr("192.0.2.100")
	const advert = time.Second
	v := startVigil(t, nsV, ahConf("v", 100, "s3cret", ""))
	testenv.WaitFor(t, 3*advert+skew(100, advert)+3*time.Second, "vigil master alone", func() bool {
		return v.state("VI_1") == "MASTER" && hasAddr(t, nsV, "eth0", vip)
	})
	before, _ := v.instance("VI_1")
	k := startKeepalived(t, nsK, ahConf("k", 200, "other", ""))
	// Keepalived, master too since it refuses vigil's adverts, sends few: each packet it
	// receives (vigil's, refused) puts its advert timer back, so its adverts come only when
	// vigil's fall in the right phase (every 1 to 5 s here).
	testenv.WaitFor(t, 12*time.Second, "vigil counting Keepalived's adverts as auth failures", func() bool {
		st, _ := v.instance("VI_1")
		return st.Dropped["auth_failure"] >= 1
	})
	time.Sleep(2 * advert)
	after, _ := v.instance("VI_1")
	if after.State != "MASTER" || after.Transitions != before.Transitions || !hasAddr(t, nsV, "eth0", vip) {
		t.Errorf("a higher priority with the wrong auth_pass moved vigil: %s, transitions %d -> %d", after.State, before.Transitions, after.Transitions)
	}
	if len(after.Dropped) != 1 {
		t.Errorf("dropped %v, want only auth_failure", after.Dropped)
	}
	t.Logf("vigil: %v; Keepalived holds the VIP too (it refuses vigil's adverts): %v", after.Dropped, hasAddr(t, nsK, "eth0", vip))
	testenv.WaitFor(t, 5*time.Second, "Keepalived logging vigil's adverts as invalid", func() bool {
		return strings.Contains(keepalivedLog(k), "invalid IPSEC HMAC-MD5")
	})
}
