package bgp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/vigil-lb/vigil/internal/clock"
)

func validConfig() Config {
	return Config{LocalAS: 65001, RouterID: netip.MustParseAddr("192.0.2.1"), ListenPort: -1,
		Neighbors: []Neighbor{{Address: netip.MustParseAddr("192.0.2.254"), AS: 65000}}}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; empty: valid
	}{
		{"valid", func(*Config) {}, ""},
		{"local AS zero", func(c *Config) { c.LocalAS = 0 }, "local_as 0"},
		{"IPv6 router ID", func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") }, "router_id"},
		{"missing router ID", func(c *Config) { c.RouterID = netip.Addr{} }, "router_id"},
		{"listen port below -1", func(c *Config) { c.ListenPort = -2 }, "listen port -2"},
		{"negative hold-down", func(c *Config) { c.HoldDown = -time.Second }, "hold_down"},
		{"neighbor without address", func(c *Config) { c.Neighbors[0].Address = netip.Addr{} }, "no address"},
		{"neighbor twice", func(c *Config) { c.Neighbors = append(c.Neighbors, c.Neighbors[0]) }, "configured twice"},
		{"neighbor AS zero", func(c *Config) { c.Neighbors[0].AS = 0 }, "192.0.2.254: remote_as 0"},
		{"hold time under 3s", func(c *Config) { c.Neighbors[0].HoldTime = 2 * time.Second }, "hold_time 2s"},
		{"keepalive not under hold time", func(c *Config) {
			c.Neighbors[0].HoldTime, c.Neighbors[0].KeepaliveInterval = 9*time.Second, 9*time.Second
		}, "keepalive 9s"},
		{"local address of the other family", func(c *Config) {
			c.Neighbors[0].LocalAddress = netip.MustParseAddr("2001:db8::1")
		}, "other address family"},
		{"iBGP neighbor", func(c *Config) { c.Neighbors[0].AS = 65001 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryProblemAndWhichNeighborHasIt(t *testing.T) {
	c := validConfig()
	c.LocalAS = 0
	c.Neighbors = append(c.Neighbors, Neighbor{Address: netip.MustParseAddr("192.0.2.253"), AS: 65000, HoldTime: time.Second})
	err := c.Validate()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 2 {
		t.Fatalf("Validate: %v, want two problems", err)
	}
	var ne *NeighborError
	if errs := joined.Unwrap(); errors.As(errs[0], &ne) || !errors.As(errs[1], &ne) || ne.Index != 1 || !strings.Contains(ne.Error(), "hold_time 1s") {
		t.Fatalf("problems %v: want local_as's without a neighbor, then neighbor #1's hold_time", errs)
	}
}

func TestRouteValidation(t *testing.T) {
	tests := []struct {
		route Route
		want  string
	}{
		{Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"65000:100", "0:0", "65535:65535"}}, ""},
		{Route{Prefix: netip.MustParsePrefix("2001:db8::10/128")}, ""},
		{Route{}, "expected an address with a prefix length"},
		{Route{Prefix: netip.MustParsePrefix("192.0.2.10/24")}, "host bits set; expected 192.0.2.0/24"},
		{Route{Prefix: netip.MustParsePrefix("::ffff:192.0.2.10/128")}, "IPv4-mapped"},
		{Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"65536:1"}}, `community "65536:1"`},
		{Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"100"}}, `community "100"`},
	}
	for _, tc := range tests {
		err := tc.route.validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.route, err, tc.want)
		}
	}
	s, err := New(validConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Announce("vs1", Route{Prefix: netip.MustParsePrefix("192.0.2.10/24")}, "up"); err == nil ||
		!strings.Contains(err.Error(), "bgp announce vs1") {
		t.Errorf("Announce with a bad prefix: %v, want an error naming the key", err)
	}
	if n := len(s.Snapshot(t.Context()).Prefixes); n != 0 {
		t.Errorf("a refused route left %d prefixes", n)
	}
}

func TestPathCarriesPrefixNextHopAndAttributes(t *testing.T) {
	med, pref := uint32(10), uint32(200)
	tests := []struct {
		route   Route
		family  api.Family_Afi
		nexthop string
	}{
		{Route{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"65001:100"}, MED: &med, LocalPref: &pref},
			api.Family_AFI_IP, "0.0.0.0"},
		{Route{Prefix: netip.MustParsePrefix("2001:db8::10/128"), Communities: []string{"65001:100"}, MED: &med, LocalPref: &pref},
			api.Family_AFI_IP6, "::"},
	}
	for _, tc := range tests {
		p, err := apiPath(tc.route)
		if err != nil {
			t.Fatal(err)
		}
		if p.Family.Afi != tc.family || p.Family.Safi != api.Family_SAFI_UNICAST {
			t.Errorf("%s: family %v", tc.route.Prefix, p.Family)
		}
		n := &api.IPAddressPrefix{}
		if err := p.Nlri.UnmarshalTo(n); err != nil || n.Prefix != tc.route.Prefix.Addr().String() ||
			int(n.PrefixLen) != tc.route.Prefix.Bits() {
			t.Errorf("%s: NLRI %v %v", tc.route.Prefix, n, err)
		}
		got := map[string]bool{}
		for _, a := range p.Pattrs {
			m, err := a.UnmarshalNew()
			if err != nil {
				t.Fatal(err)
			}
			switch v := m.(type) {
			case *api.OriginAttribute:
				got["origin igp"] = v.Origin == 0
			case *api.NextHopAttribute:
				got["next hop"] = v.NextHop == tc.nexthop
			case *api.MpReachNLRIAttribute:
				got["next hop"] = len(v.NextHops) == 1 && v.NextHops[0] == tc.nexthop && len(v.Nlris) == 1
			case *api.CommunitiesAttribute:
				got["community"] = len(v.Communities) == 1 && v.Communities[0] == 65001<<16|100
			case *api.MultiExitDiscAttribute:
				got["med"] = v.Med == 10
			case *api.LocalPrefAttribute:
				got["local pref"] = v.LocalPref == 200
			}
		}
		for _, k := range []string{"origin igp", "next hop", "community", "med", "local pref"} {
			if !got[k] {
				t.Errorf("%s: attribute %s missing or wrong (%v)", tc.route.Prefix, k, got)
			}
		}
	}
}

// TestSpeakerTimerCarriesOutHeldWithdrawal checks the wiring from the planner's due time to
// the speaker's clock, without GoBGP.
func TestSpeakerTimerCarriesOutHeldWithdrawal(t *testing.T) {
	clk := clock.NewFake(t0)
	cfg := validConfig()
	cfg.HoldDown = 5 * time.Second
	s, err := NewWithClock(cfg, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	state := func() PrefixState { return s.Snapshot(t.Context()).Prefixes[0].State }
	if err := s.Announce("vs1", route("192.0.2.10"), "quorum gained"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	s.Withdraw("vs1", route("192.0.2.10").Prefix, "quorum lost")
	if got := state(); got != PendingWithdraw {
		t.Fatalf("after an early withdraw: %s", got)
	}
	clk.Advance(3999 * time.Millisecond)
	if got := state(); got != PendingWithdraw {
		t.Fatalf("1 ms before the hold-down ends: %s", got)
	}
	clk.Advance(time.Millisecond)
	if got := state(); got != Withdrawn {
		t.Fatalf("at the hold-down's end: %s", got)
	}
	if clk.Pending() != 0 {
		t.Errorf("%d timers left pending with nothing held back", clk.Pending())
	}
	// Recovery within the hold-down after that withdrawal: announced at its end.
	s.Announce("vs1", route("192.0.2.10"), "quorum gained")
	if got := state(); got != PendingAnnounce {
		t.Fatalf("re-announce right after the withdraw: %s", got)
	}
	clk.Advance(5 * time.Second)
	if got := state(); got != Announced {
		t.Fatalf("after the hold-down: %s", got)
	}
}
