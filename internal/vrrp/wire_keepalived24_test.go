package vrrp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// hmacPair is two namespaces joined by a veth pair, both ends eth0, with an IPv4 and an IPv6
// address each (the IPv6 link-local addresses come from the kernel).
func hmacPair(t *testing.T) (a, b *testenv.Namespace) {
	a, b = testenv.NewNamespace(t, "ha"), testenv.NewNamespace(t, "hb")
	testenv.Veth(t, a, "eth0", b, "eth0")
	a.Addr(t, "eth0", "192.0.2.1/24")
	b.Addr(t, "eth0", "192.0.2.2/24")
	a.Addr(t, "eth0", "2001:db8::1/64")
	b.Addr(t, "eth0", "2001:db8::2/64")
	return a, b
}

const hmacKey1 = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// hmacConf is an instance with auth_hmac; block is the auth_hmac body.
func hmacConf(name string, version, prio int, vip, unicast, block string) string {
	advert := map[int]string{2: "1", 3: "0.2"}[version]
	return instanceConf("", name, 51, version, prio, advert, unicast+"\n  auth_hmac {\n    "+block+"\n  }", vip, "")
}

// Two vigils with auth_hmac elect one master and fail over, for VRRPv2 and v3, IPv4 and IPv6,
// multicast and unicast; the backup's counters show every advert verified (no refusals).
func TestAuthHMACBetweenTwoVigils(t *testing.T) {
	t.Parallel()
	block := "key 1 " + hmacKey1 + "\n    active_key 1\n    time_window 5"
	for _, c := range []struct {
		name      string
		version   int
		vip       string
		srcA      string
		srcB      string
		multicast bool
	}{
		{"v2-ipv4-multicast", 2, "192.0.2.100/24", "", "", true},
		{"v3-ipv4-multicast", 3, "192.0.2.100/24", "", "", true},
		{"v3-ipv6-multicast", 3, "2001:db8::100/64", "", "", true},
		{"v2-ipv4-unicast", 2, "192.0.2.100/24", "192.0.2.1", "192.0.2.2", false},
		{"v3-ipv4-unicast", 3, "192.0.2.100/24", "192.0.2.1", "192.0.2.2", false},
		{"v3-ipv6-unicast", 3, "2001:db8::100/64", "2001:db8::1", "2001:db8::2", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			nsA, nsB := hmacPair(t)
			uni := func(src, peer string) string {
				if c.multicast {
					return ""
				}
				return fmt.Sprintf("unicast_src_ip %s\n  unicast_peer {\n    %s\n  }", src, peer)
			}
			vip := netip.MustParsePrefix(c.vip).Addr()
			a := startVigil(t, nsA, hmacConf("a", c.version, 150, c.vip, uni(c.srcA, c.srcB), block))
			b := startVigil(t, nsB, hmacConf("b", c.version, 100, c.vip, uni(c.srcB, c.srcA), block))
			testenv.WaitFor(t, 15*time.Second, "A master, B backup", func() bool {
				return a.state("VI_1") == "MASTER" && b.state("VI_1") == "BACKUP" && hasAddr(t, nsA, "eth0", vip)
			})
			// B has heard A's signed adverts for a while without refusing one.
			time.Sleep(1500 * time.Millisecond)
			st, _ := b.instance("VI_1")
			if st.State != "BACKUP" || len(nonZero(st.Dropped)) != 0 {
				t.Fatalf("B %s, refusals %v", st.State, nonZero(st.Dropped))
			}
			a.stop(t, 10*time.Second)
			testenv.WaitFor(t, 10*time.Second, "B master once A resigned", func() bool {
				return b.state("VI_1") == "MASTER" && hasAddr(t, nsB, "eth0", vip)
			})
		})
	}
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// A key of the wrong bytes is refused (and both take the VIP, as two routers that cannot
// authenticate each other must); a node without auth_hmac finds signed adverts too long; in
// receive-only mode a node sends no trailer, so an enforcing peer counts them missing, and in
// permissive mode the same node accepts them. Unicast, where the TTL guard is gone.
func TestAuthHMACRefusalsAndMigrationModes(t *testing.T) {
	t.Parallel()
	nsA, nsB := hmacPair(t)
	uniA := "unicast_src_ip 192.0.2.1\n  unicast_peer {\n    192.0.2.2\n  }"
	uniB := "unicast_src_ip 192.0.2.2\n  unicast_peer {\n    192.0.2.1\n  }"
	good := "key 1 " + hmacKey1 + "\n    active_key 1"
	other := "key 1 " + strings.Repeat("k", 32) + "\n    active_key 1"
	a := startVigil(t, nsA, hmacConf("a", 3, 150, "192.0.2.100/24", uniA, good))
	b := startVigil(t, nsB, hmacConf("b", 3, 100, "192.0.2.100/24", uniB, other))
	dropped := func(p *vigilProc, reason string) uint64 {
		st, _ := p.instance("VI_1")
		return st.Dropped[reason]
	}
	testenv.WaitFor(t, 10*time.Second, "B refusing A's HMAC and taking over", func() bool {
		return b.state("VI_1") == "MASTER" && dropped(b, "auth_ext_invalid_hmac") > 0
	})

	// B without auth_hmac: A's adverts are too long for it; A counts B's as missing a trailer.
	b.reload(t, strings.Replace(hmacConf("b", 3, 100, "192.0.2.100/24", uniB, ""), "auth_hmac {\n    \n  }", "", 1))
	testenv.WaitFor(t, 10*time.Second, "B refusing signed adverts as long, A refusing unsigned ones", func() bool {
		return dropped(b, "long") > 0 && dropped(a, "auth_ext_missing") > 0
	})

	// B receive-only: verifies A's trailer, sends none; A (enforce) still refuses B.
	b.reload(t, hmacConf("b", 3, 100, "192.0.2.100/24", uniB, good+"\n    mode receive-only"))
	testenv.WaitFor(t, 10*time.Second, "B (receive-only) backing up to A", func() bool {
		return b.state("VI_1") == "BACKUP"
	})
	before := dropped(b, "auth_ext_invalid_hmac") + dropped(b, "long")
	time.Sleep(time.Second)
	if after := dropped(b, "auth_ext_invalid_hmac") + dropped(b, "long"); after != before {
		t.Fatalf("B (receive-only, right key) still refuses A's adverts: %d then %d", before, after)
	}

	// A permissive: a node that is not yet signing is heard. B (100) stops; A stays master;
	// B restarted at priority 200 unsigned (receive-only) preempts, since A accepts it.
	a.reload(t, hmacConf("a", 3, 150, "192.0.2.100/24", uniA, good+"\n    mode permissive"))
	b.reload(t, hmacConf("b", 3, 200, "192.0.2.100/24", uniB, good+"\n    mode receive-only"))
	testenv.WaitFor(t, 10*time.Second, "B (200, unsigned) master, A (permissive) backup", func() bool {
		return b.state("VI_1") == "MASTER" && a.state("VI_1") == "BACKUP"
	})
}

// v3_checksum_as_v2: a sender with it leaves the pseudo-header out of its VRRPv3 IPv4
// checksums; a receiver without it refuses them as bad checksums, one with it (per instance or
// global) accepts them.
func TestV3ChecksumAsV2OnTheWire(t *testing.T) {
	t.Parallel()
	nsA, nsB := hmacPair(t)
	conf := func(name string, prio int, global, inst string) string {
		return instanceConf(global, name, 52, 3, prio, "0.2", inst, "192.0.2.100/24", "")
	}
	a := startVigil(t, nsA, conf("a", 150, "", "v3_checksum_as_v2"))
	b := startVigil(t, nsB, conf("b", 100, "", ""))
	testenv.WaitFor(t, 10*time.Second, "B refusing A's checksums and taking over", func() bool {
		st, _ := b.instance("VI_1")
		return st.State == "MASTER" && st.Dropped["bad_checksum"] > 0
	})
	b.reload(t, conf("b", 100, "v3_checksum_as_v2", ""))
	testenv.WaitFor(t, 10*time.Second, "B (global v3_checksum_as_v2) backing up to A", func() bool {
		return b.state("VI_1") == "BACKUP" && a.state("VI_1") == "MASTER"
	})
}

// IP_FREEBIND/IPV6_FREEBIND on unicast sockets (Keepalived 2.3.3): an instance whose
// unicast_src_ip is not on the host yet still speaks from it, so its peer, which knows it by
// that address, hears it and stays backup. Without the option the kernel refuses to send from
// an IPv6 address the host lacks, the peer hears nothing and takes over.
func TestUnicastAdvertsLeaveFromASourceNotYetOnTheHost(t *testing.T) {
	t.Parallel()
	nsA, nsB := hmacPair(t)
	conf := func(name string, prio int, src, peer string) string {
		return instanceConf("", name, 53, 3, prio, "0.2",
			fmt.Sprintf("unicast_src_ip %s\n  unicast_peer {\n    %s\n  }", src, peer), "2001:db8::100/64", "")
	}
	// A's source 2001:db8::11 is nowhere on A: it is the address B expects A at.
	a := startVigil(t, nsA, conf("a", 150, "2001:db8::11", "2001:db8::2"))
	b := startVigil(t, nsB, conf("b", 100, "2001:db8::2", "2001:db8::11"))
	testenv.WaitFor(t, 10*time.Second, "A master from an address it does not have, B backup", func() bool {
		st, _ := b.instance("VI_1")
		return a.state("VI_1") == "MASTER" && st.State == "BACKUP" && st.MasterAddr == netip.MustParseAddr("2001:db8::11")
	})
	// And it stays so (B is not merely still in its first down timer).
	time.Sleep(time.Second)
	if st := b.state("VI_1"); st != "BACKUP" {
		t.Fatalf("B %s", st)
	}
}
