package vrrp

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"golang.org/x/sys/unix"
)

func TestTrackEffectFollowsKeepalivedWeights(t *testing.T) {
	tests := []struct {
		name      string
		ref       trackRef
		u         trackUpdate
		wantFault bool
		wantDelta int
	}{
		{"weight 0 down faults", trackRef{kind: "script"}, trackUpdate{up: false}, true, 0},
		{"weight 0 up is fine", trackRef{kind: "script"}, trackUpdate{up: true}, false, 0},
		{"weight 0 reverse up faults", trackRef{kind: "interface", reverse: true}, trackUpdate{up: true}, true, 0},
		{"positive weight added while up", trackRef{kind: "script", weight: 20}, trackUpdate{up: true}, false, 20},
		{"positive weight nothing while down", trackRef{kind: "script", weight: 20}, trackUpdate{up: false}, false, 0},
		{"negative weight added while down", trackRef{kind: "script", weight: -30}, trackUpdate{up: false}, false, -30},
		{"negative weight nothing while up", trackRef{kind: "script", weight: -30}, trackUpdate{up: true}, false, 0},
		{"reverse positive weight subtracts while up", trackRef{kind: "script", weight: 20, reverse: true}, trackUpdate{up: true}, false, -20},
		{"reverse negative weight adds while down", trackRef{kind: "interface", weight: -30, reverse: true}, trackUpdate{up: false}, false, 30},
		{"file value times weight", trackRef{kind: "file", weight: 5}, trackUpdate{value: -3}, false, -15},
		{"file weight 0 non-zero faults", trackRef{kind: "file"}, trackUpdate{value: 2}, true, 0},
		{"file weight 0 zero is fine", trackRef{kind: "file"}, trackUpdate{value: 0}, false, 0},
		{"file weight 0 reverse zero faults", trackRef{kind: "file", reverse: true}, trackUpdate{value: 0}, true, 0},
		{"file below -253 faults", trackRef{kind: "file", weight: -254}, trackUpdate{value: 1}, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, d := tc.ref.effect(tc.u)
			if f != tc.wantFault || d != tc.wantDelta {
				t.Errorf("effect = fault %v delta %d, want fault %v delta %d", f, d, tc.wantFault, tc.wantDelta)
			}
		})
	}
}

func TestToAddressCarriesLabelScopeBroadcastAndFlags(t *testing.T) {
	tests := []struct {
		name string
		vip  vrrpd.VirtualIP
		want func(t *testing.T, a addrView)
	}{
		{"defaults to the instance interface", vrrpd.VirtualIP{Prefix: netip.MustParsePrefix("192.0.2.10/32")},
			func(t *testing.T, a addrView) { a.is(t, "eth0", "", 0, "", false) }},
		{"dev label scope", vrrpd.VirtualIP{Prefix: netip.MustParsePrefix("192.0.2.10/24"), Dev: "eth1", Label: "eth1:vip", Scope: "link"},
			func(t *testing.T, a addrView) { a.is(t, "eth1", "eth1:vip", unix.RT_SCOPE_LINK, "", false) }},
		{"brd + is the all-ones broadcast", vrrpd.VirtualIP{Prefix: netip.MustParsePrefix("192.0.2.10/24"), Broadcast: "+"},
			func(t *testing.T, a addrView) { a.is(t, "eth0", "", 0, "192.0.2.255", false) }},
		{"explicit brd", vrrpd.VirtualIP{Prefix: netip.MustParsePrefix("192.0.2.10/25"), Broadcast: "192.0.2.127"},
			func(t *testing.T, a addrView) { a.is(t, "eth0", "", 0, "192.0.2.127", false) }},
		{"IPv6 skips DAD", vrrpd.VirtualIP{Prefix: netip.MustParsePrefix("2001:db8::10/64")},
			func(t *testing.T, a addrView) { a.is(t, "eth0", "", 0, "", true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := toAddress(&tc.vip, "eth0")
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, addrView{a.Link, a.Label, a.Scope, a.Broadcast, a.NoDAD})
		})
	}
	if _, err := toAddress(&vrrpd.VirtualIP{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Scope: "galaxy"}, "eth0"); err == nil {
		t.Error("unknown scope accepted")
	}
}

type addrView struct {
	link, label string
	scope       int
	brd         netip.Addr
	nodad       bool
}

func (a addrView) is(t *testing.T, link, label string, scope int, brd string, nodad bool) {
	t.Helper()
	var b netip.Addr
	if brd != "" {
		b = netip.MustParseAddr(brd)
	}
	if a != (addrView{link, label, scope, b, nodad}) {
		t.Errorf("got %+v, want link %s label %q scope %d brd %v nodad %v", a, link, label, scope, b, nodad)
	}
}

func TestInstanceKeyIgnoresPositions(t *testing.T) {
	mk := func(line, prio int) (*config.Config, *vrrpd.Instance) {
		v := &vrrpd.Instance{Pos: config.Pos{Line: line}, Name: "VI_1", Priority: prio,
			TrackScripts: []*vrrpd.TrackRef{{Pos: config.Pos{Line: line + 1}, Name: "chk"}}}
		c := &config.Config{VRRPInstances: []*vrrpd.Instance{v},
			VRRPScripts: []*vrrpd.Script{{Pos: config.Pos{Line: line + 5}, Name: "chk", Rise: 2}}}
		return c, v
	}
	k1, _ := instanceKey(mk(10, 100))
	k2, _ := instanceKey(mk(20, 100))
	k3, _ := instanceKey(mk(10, 101))
	if k1 != k2 {
		t.Errorf("moving the block changed the key:\n%s\n%s", k1, k2)
	}
	if k1 == k3 {
		t.Error("changing the priority kept the key")
	}
	c, v := mk(10, 100)
	c.VRRPScripts[0].Rise = 3
	if k4, _ := instanceKey(c, v); k4 == k1 {
		t.Error("changing a tracked script kept the key")
	}
}

func TestToRouteTakesWhatItInstallsAndRefusesTheRest(t *testing.T) {
	tests := []struct {
		name string
		r    vrrpd.VirtualRoute
		want string // Route.String(), or an error substring after "!"
	}{
		{"via dev", vrrpd.VirtualRoute{Dest: "198.51.100.0/24", Via: netip.MustParseAddr("192.0.2.254"), Dev: "eth0",
			Words: []string{"198.51.100.0/24", "via", "192.0.2.254", "dev", "eth0"}}, "198.51.100.0/24 via 192.0.2.254 dev eth0"},
		{"default by the gateway's family", vrrpd.VirtualRoute{Dest: "default", Via: netip.MustParseAddr("2001:db8::1"),
			Words: []string{"default", "via", "2001:db8::1"}}, "::/0 via 2001:db8::1"},
		{"table and metric", vrrpd.VirtualRoute{Dest: "198.51.100.7", Table: "100", Metric: "5",
			Words: []string{"to", "198.51.100.7", "table", "100", "metric", "5"}}, "198.51.100.7/32 table 100"},
		{"nexthop refused", vrrpd.VirtualRoute{Dest: "198.51.100.0/24",
			Words: []string{"198.51.100.0/24", "nexthop", "via", "192.0.2.1"}}, "!\"nexthop\""},
		{"onlink refused", vrrpd.VirtualRoute{Dest: "198.51.100.0/24",
			Words: []string{"198.51.100.0/24", "onlink"}}, "!\"onlink\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := toRoute(&tc.r, false)
			if tc.want[0] == '!' {
				if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
					t.Errorf("error %v, want one naming %s", err, tc.want[1:])
				}
				return
			}
			if err != nil || r.String() != tc.want {
				t.Errorf("route %q, %v; want %q", r.String(), err, tc.want)
			}
		})
	}
}
