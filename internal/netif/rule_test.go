package netif

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestRuleStringReadsLikeIPRule(t *testing.T) {
	r := Rule{From: netip.MustParsePrefix("192.0.2.0/24"), Invert: true, IIF: "lo", HasMark: true, Mark: 0x10,
		HasMask: true, Mask: 0xff, HasPriority: true, Priority: 100, Action: unix.FR_ACT_TO_TBL, Table: 7}
	want := "not from 192.0.2.0/24 iif lo fwmark 0x10/0xff pref 100 table 7"
	if got := r.String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
}

func TestRuleRefusesWhatTheKernelWouldMisread(t *testing.T) {
	tests := map[string]Rule{
		"no action":                 {From: netip.MustParsePrefix("192.0.2.0/24")},
		"table 0":                   {Action: unix.FR_ACT_TO_TBL},
		"mixed families":            {Family: unix.AF_INET6, From: netip.MustParsePrefix("192.0.2.0/24"), Action: unix.FR_ACT_NOP},
		"suppressor on goto":        {HasSuppressPrefixlen: true, Action: unix.FR_ACT_GOTO, Goto: 200},
		"suppressor on a big table": {HasSuppressPrefixlen: true, Action: unix.FR_ACT_TO_TBL, Table: 1000},
		"IPv6 realms":               {Family: unix.AF_INET6, Realms: 1, Action: unix.FR_ACT_TO_TBL, Table: 5},
	}
	for name, r := range tests {
		if _, err := r.toNLRule(); err == nil {
			t.Errorf("%s: rule %s accepted", name, r)
		}
	}
}

func TestRulesComeAndGoWithTheirSelectors(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNamespace(t, "rule")
	h, err := OpenNamespace(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	rules := []struct {
		r    Rule
		want string // as "ip rule show" prints it
	}{
		{Rule{From: netip.MustParsePrefix("192.0.2.0/24"), To: netip.MustParsePrefix("198.51.100.0/24"),
			IIF: "lo", HasMark: true, Mark: 0x10, HasMask: true, Mask: 0xff, TOS: 0x10,
			HasPriority: true, Priority: 100, Action: unix.FR_ACT_TO_TBL, Table: 7,
			HasSuppressPrefixlen: true, SuppressPrefixlen: 0},
			"100:\tfrom 192.0.2.0/24 to 198.51.100.0/24 tos 0x10 fwmark 0x10/0xff iif lo lookup 7 suppress_prefixlength 0"},
		{Rule{Invert: true, From: netip.MustParsePrefix("192.0.2.128/25"), OIF: "lo", HasPriority: true, Priority: 101,
			HasUIDRange: true, UIDRange: [2]uint32{1000, 1999}, IPProto: unix.IPPROTO_TCP,
			Sport: [2]uint16{1000, 2000}, Dport: [2]uint16{80, 80}, Action: unix.FR_ACT_TO_TBL, Table: 1000},
			"101:\tnot from 192.0.2.128/25 oif lo uidrange 1000-1999 ipproto tcp sport 1000-2000 dport 80 lookup 1000"},
		{Rule{HasPriority: true, Priority: 102, HasMark: true, Mark: 3, Action: unix.FR_ACT_GOTO, Goto: 200},
			"102:\tfrom all fwmark 0x3 goto 200 [unresolved]"},
		{Rule{HasPriority: true, Priority: 103, To: netip.MustParsePrefix("198.51.100.7/32"), Action: unix.FR_ACT_BLACKHOLE},
			"103:\tfrom all to 198.51.100.7 blackhole"},
		{Rule{From: netip.MustParsePrefix("2001:db8:1::/48"), To: netip.MustParsePrefix("2001:db8:2::/64"),
			HasPriority: true, Priority: 100, Action: unix.FR_ACT_TO_TBL, Table: 7},
			"100:\tfrom 2001:db8:1::/48 to 2001:db8:2::/64 lookup 7"},
		{Rule{Family: unix.AF_INET6, HasPriority: true, Priority: 104, Dport: [2]uint16{53, 53},
			IPProto: unix.IPPROTO_UDP, Action: unix.FR_ACT_UNREACHABLE},
			"104:\tfrom all ipproto udp dport 53 unreachable"},
	}
	show := func() string {
		return testenv.Run(t, "ip", "-n", ns.Name, "-4", "rule", "show") + testenv.Run(t, "ip", "-n", ns.Name, "-6", "rule", "show")
	}
	for i := 0; i < 2; i++ { // adding twice is harmless and adds nothing
		for _, tc := range rules {
			if err := h.AddRule(tc.r); err != nil {
				t.Fatalf("add #%d: %v", i+1, err)
			}
		}
	}
	out := show()
	for _, tc := range rules {
		n := 0
		for _, line := range strings.Split(out, "\n") {
			if strings.TrimSpace(line) == tc.want {
				n++
			}
		}
		if n != 1 {
			t.Errorf("ip rule shows %q %d times; want once:\n%s", tc.want, n, out)
		}
	}
	for i := 0; i < 2; i++ { // deleting what is gone is harmless
		for _, tc := range rules {
			if err := h.DeleteRule(tc.r); err != nil {
				t.Fatalf("delete #%d: %v", i+1, err)
			}
		}
	}
	out = show()
	for _, p := range []string{"100:", "101:", "102:", "103:", "104:"} {
		if strings.Contains(out, p) {
			t.Errorf("rule %s left after delete:\n%s", p, out)
		}
	}
	// The kernel's own rules are untouched.
	for _, want := range []string{"0:\tfrom all lookup local", "32766:\tfrom all lookup main"} {
		if strings.Count(out, want) != 2 {
			t.Errorf("ip rule lacks the kernel's %q for both families:\n%s", want, out)
		}
	}
}

// HasRule finds a rule as AddRule put it, with or without a preference, and not one that
// differs in a selector, the preference or the table.
func TestHasRuleFindsTheRuleAsInstalled(t *testing.T) {
	ns := testenv.NewNamespace(t, "hu")
	h, err := OpenNamespace(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p := netip.MustParsePrefix
	rules := []readBackCase[Rule]{
		{"from, fwmark and table", Rule{From: p("192.0.2.0/24"), HasMark: true, Mark: 0x10, HasPriority: true, Priority: 100,
			Action: unix.FR_ACT_TO_TBL, Table: 7},
			Rule{From: p("192.0.2.0/24"), HasMark: true, Mark: 0x10, HasMask: true, Mask: 0xff, HasPriority: true, Priority: 100,
				Action: unix.FR_ACT_TO_TBL, Table: 7}},
		{"big table, ports and uid range", Rule{To: p("198.51.100.0/24"), IPProto: unix.IPPROTO_TCP, Dport: [2]uint16{80, 80},
			HasUIDRange: true, UIDRange: [2]uint32{1000, 1999}, HasPriority: true, Priority: 101, Action: unix.FR_ACT_TO_TBL, Table: 1000},
			Rule{To: p("198.51.100.0/24"), IPProto: unix.IPPROTO_TCP, Dport: [2]uint16{80, 81},
				HasUIDRange: true, UIDRange: [2]uint32{1000, 1999}, HasPriority: true, Priority: 101, Action: unix.FR_ACT_TO_TBL, Table: 1000}},
		{"no preference", Rule{From: p("203.0.113.0/24"), Invert: true, Action: unix.FR_ACT_TO_TBL, Table: 8},
			Rule{From: p("203.0.113.0/24"), Action: unix.FR_ACT_TO_TBL, Table: 8}},
		{"goto", Rule{HasPriority: true, Priority: 102, IIF: "lo", Action: unix.FR_ACT_GOTO, Goto: 200},
			Rule{HasPriority: true, Priority: 103, IIF: "lo", Action: unix.FR_ACT_GOTO, Goto: 200}},
		{"IPv6 suppressor", Rule{From: p("2001:db8::/32"), HasPriority: true, Priority: 100, Action: unix.FR_ACT_TO_TBL, Table: 7,
			HasSuppressPrefixlen: true, SuppressPrefixlen: 0},
			Rule{From: p("2001:db8::/32"), HasPriority: true, Priority: 100, Action: unix.FR_ACT_TO_TBL, Table: 9,
				HasSuppressPrefixlen: true, SuppressPrefixlen: 0}},
		{"IPv6 unreachable", Rule{Family: unix.AF_INET6, HasPriority: true, Priority: 104, Action: unix.FR_ACT_UNREACHABLE},
			Rule{Family: unix.AF_INET6, HasPriority: true, Priority: 104, Action: unix.FR_ACT_TO_TBL, Table: 7}},
	}
	checkReadBack(t, rules, h.HasRule, h.AddRule, func() string { return ns.Run(t, "ip", "rule", "show") + ns.Run(t, "ip", "-6", "rule", "show") })
	ns.Run(t, "ip", "rule", "del", "pref", "102")
	if ok, err := h.HasRule(rules[3].entry); ok || err != nil {
		t.Errorf("a rule deleted behind vigil's back: found %v, error %v", ok, err)
	}
}
