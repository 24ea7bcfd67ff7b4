package vrrp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestToRuleReadsKeepalivedRuleSyntax(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		line string
		prio string // what the configuration filled in when the line has none
		want netif.Rule
	}{
		{"from 192.0.2.0/24 table 100 priority 10", "10",
			netif.Rule{Family: unix.AF_INET, From: pfx("192.0.2.0/24"), Action: unix.FR_ACT_TO_TBL, Table: 100, Priority: 10, HasPriority: true}},
		{"to 198.51.100.7 lookup main", "16384",
			netif.Rule{Family: unix.AF_INET, To: pfx("198.51.100.7/32"), Action: unix.FR_ACT_TO_TBL, Table: unix.RT_TABLE_MAIN, Priority: 16384, HasPriority: true}},
		{"not from 192.0.2.9/24 to all iif eth0 oif eth1 tos 0x10 fwmark 0x20/0xf0 preference 20 table 7 suppress_prefixlength 0 sup_group 3 realms 2/5", "20",
			netif.Rule{Family: unix.AF_INET, Invert: true, From: pfx("192.0.2.0/24"), IIF: "eth0", OIF: "eth1", TOS: 0x10,
				Mark: 0x20, Mask: 0xf0, HasMark: true, HasMask: true, Priority: 20, HasPriority: true, Action: unix.FR_ACT_TO_TBL, Table: 7,
				SuppressPrefixlen: 0, HasSuppressPrefixlen: true, SuppressIfgroup: 3, HasSuppressIfgroup: true, Realms: 2<<16 | 5}},
		{"fwmark 12 uidrange 1000-1999 ipproto tcp sport 1024-65535 dport 443 order 30 goto 40 no_track", "30",
			netif.Rule{Family: unix.AF_INET, Mark: 12, HasMark: true, HasUIDRange: true, UIDRange: [2]uint32{1000, 1999},
				IPProto: unix.IPPROTO_TCP, Sport: [2]uint16{1024, 65535}, Dport: [2]uint16{443, 443},
				Priority: 30, HasPriority: true, Action: unix.FR_ACT_GOTO, Goto: 40}},
		{"to 2001:db8:2::/64 from 2001:db8:1::1/48 table 6908 protocol 12", "16384",
			netif.Rule{Family: unix.AF_INET6, From: pfx("2001:db8:1::/48"), To: pfx("2001:db8:2::/64"), Action: unix.FR_ACT_TO_TBL, Table: 6908,
				Protocol: 12, Priority: 16384, HasPriority: true}},
		{"inet6 ipproto ipv6-icmp type prohibit pref 5", "5",
			netif.Rule{Family: unix.AF_INET6, IPProto: unix.IPPROTO_ICMPV6, Action: unix.FR_ACT_PROHIBIT, Priority: 5, HasPriority: true}},
		{"inet6 ipproto 17 blackhole pref 6", "6",
			netif.Rule{Family: unix.AF_INET6, IPProto: unix.IPPROTO_UDP, Action: unix.FR_ACT_BLACKHOLE, Priority: 6, HasPriority: true}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			got, err := toRule(&vrrpd.VirtualRule{Words: strings.Fields(tc.line), Priority: tc.prio}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestToRuleRefusesWhatItCannotInstall(t *testing.T) {
	tests := map[string]string{
		"from 192.0.2.0/24 pref 5":                             "no action",
		"from 192.0.2.0/24 table 5 goto 9 pref 5":              "more than one",
		"from 192.0.2.0/24 to 2001:db8::/32 table 5":           "mixes IPv4 and IPv6",
		"inet6 realms 3 table 5":                               "mixes IPv4 and IPv6",
		"from 192.0.2.0/24 l3mdev":                             `"l3mdev" is not supported`,
		"from 192.0.2.0/24 tunnel-id 4 table 5":                `"tunnel-id" is not supported`,
		"from 192.0.2.0/24 frobnicate table 5":                 `"frobnicate" is not supported`,
		"from 192.0.2.0/24 table 5 track_group G":              "only for static_rules",
		"from 192.0.2.0/24 table 0":                            "table",
		"from 192.0.2.0/24 table lan":                          "table",
		"fwmark 1/x table 5":                                   "fwmark",
		"fwmark 1 goto 5 pref 9":                               "must jump past",
		"fwmark 1 blackhole suppress_prefixlength 0 pref 1":    "need a table action",
		"from 192.0.2.0/24 table 1000 suppress_prefixlength 0": "tables below 256",
		"sport 20-10 table 5":                                  "sport",
		"uidrange 5 table 5":                                   "uidrange",
		"from 192.0.2.0/24 table":                              "needs a value",
	}
	for line, want := range tests {
		_, err := toRule(&vrrpd.VirtualRule{Words: strings.Fields(line), Priority: "100"}, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one mentioning %q", line, err, want)
		}
	}
	if _, err := toRule(&vrrpd.VirtualRule{Words: strings.Fields("from 192.0.2.0/24 table 5 track_group G")}, true); err != nil {
		t.Errorf("static rule with track_group refused: %v", err)
	}
}

func TestNewManagerNamesTheBadRule(t *testing.T) {
	for _, tc := range []struct{ kind, conf string }{
		{"virtual_rules", vrrpConf("x", 3, 100, "1", "192.0.2.100/24", "virtual_rules {\n    from 192.0.2.0/24 l3mdev\n  }")},
		{"static_rules", vrrpConf("x", 3, 100, "1", "192.0.2.100/24", "") + "static_rules {\n  from 192.0.2.0/24 l3mdev\n}\n"},
	} {
		_, err := NewManager(loadConf(t, tc.conf), ManagerOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.kind) || !strings.Contains(err.Error(), "k.conf:") ||
			!strings.Contains(err.Error(), "l3mdev") {
			t.Errorf("NewManager error %v, want one naming %s, the file:line and l3mdev", err, tc.kind)
		}
	}
}

// The master holds the instance's rules; after a failover the new master has them and the
// old one does not; a reload that changes a rule swaps it on the master. Static rules stay
// on both whatever the state, go when vigil stops (as Keepalived's do) and follow a reload.
func TestVirtualRulesFollowTheMaster(t *testing.T) {
	t.Parallel()
	nsA, nsB := pair(t, "192.0.2.1/24", "192.0.2.2/24")
	rules := func(v4, v6 string) string {
		return "virtual_rules {\n    " + v4 + "\n    " + v6 + "\n  }"
	}
	v4 := "from 198.51.100.0/24 fwmark 0x10/0xff table 100 priority 1000"
	v6 := "to 2001:db8:5::/64 table 101 priority 1001"
	static := func(table string) string {
		return "static_rules {\n  to 203.0.113.0/24 table " + table + " priority 2000\n}\n"
	}
	confA := vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", rules(v4, v6)) + static("200")
	confB := vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", rules(v4, v6)) + static("200")
	const static200 = "2000:\tfrom all to 203.0.113.0/24 lookup 200"
	const want4 = "1000:\tfrom 198.51.100.0/24 fwmark 0x10/0xff lookup 100"
	const want6 = "1001:\tfrom all to 2001:db8:5::/64 lookup 101"
	has := func(ns *testenv.Namespace, family, want string) bool {
		for _, line := range strings.Split(testenv.Run(t, "ip", "-n", ns.Name, family, "rule", "show"), "\n") {
			if strings.TrimSpace(line) == want {
				return true
			}
		}
		return false
	}
	holds := func(ns *testenv.Namespace) bool {
		h4, h6 := has(ns, "-4", want4), has(ns, "-6", want6)
		if h4 != h6 {
			t.Fatalf("half the virtual rules in %s: IPv4 %v, IPv6 %v", ns, h4, h6)
		}
		return h4
	}

	a := startVigil(t, nsA, confA)
	b := startVigil(t, nsB, confB)
	testenv.WaitFor(t, 10*time.Second, "A master with the rules, B backup without", func() bool {
		return a.state("VI_1") == "MASTER" && b.state("VI_1") == "BACKUP" && holds(nsA) && !holds(nsB)
	})
	for _, ns := range []*testenv.Namespace{nsA, nsB} {
		if !has(ns, "-4", static200) {
			t.Errorf("%s lacks the static rule %q", ns, static200)
		}
	}

	a.stop(t, 10*time.Second)
	if holds(nsA) || has(nsA, "-4", static200) {
		t.Errorf("A still holds its virtual or static rules after stopping")
	}
	testenv.WaitFor(t, 5*time.Second, "B master with the rules", func() bool { return b.state("VI_1") == "MASTER" && holds(nsB) })

	// A reload that changes the IPv4 rule's table swaps it; the IPv6 one stays. So for the
	// static rule.
	b.reload(t, vrrpConf("b", 3, 100, "0.2", "192.0.2.100/24", rules(strings.Replace(v4, "table 100", "table 102", 1), v6))+static("201"))
	testenv.WaitFor(t, 5*time.Second, "B swapping the changed rules", func() bool {
		return has(nsB, "-4", "1000:\tfrom 198.51.100.0/24 fwmark 0x10/0xff lookup 102") && !has(nsB, "-4", want4) && has(nsB, "-6", want6) &&
			has(nsB, "-4", "2000:\tfrom all to 203.0.113.0/24 lookup 201") && !has(nsB, "-4", static200)
	})
	if b.state("VI_1") != "MASTER" {
		t.Errorf("B is %s after the reload, want MASTER", b.state("VI_1"))
	}
}
