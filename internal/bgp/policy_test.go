package bgp

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPolicyAnnouncesWhileServingAndOnlyWhileMaster(t *testing.T) {
	route := Route{Prefix: netip.MustParsePrefix("192.0.2.10/32")}
	plain := &Announcement{Route: route}
	tied := &Announcement{Route: route, OnlyWhileMaster: "VI_1"}
	// Each step is a call and what it must decide: "announce", "withdraw", "remove", with a
	// part of the reason; "" for no decision.
	type step struct {
		do   func(p *Policy) []Decision
		want string
		why  string
	}
	pool := func(a *Announcement, up bool, why string) func(p *Policy) []Decision {
		return func(p *Policy) []Decision { return p.SetPool("vs", a, up, why) }
	}
	vrrp := func(state string) func(p *Policy) []Decision {
		return func(p *Policy) []Decision { return p.SetVRRP("VI_1", state) }
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"follows the pool", []step{
			{pool(plain, true, "serving"), "announce", "serving"},
			{pool(plain, false, "quorum lost"), "withdraw", "quorum lost"},
			{pool(plain, true, "serving"), "announce", "serving"},
		}},
		{"a reload without the announce block removes the route", []step{
			{pool(plain, true, "serving"), "announce", ""},
			{pool(nil, true, ""), "remove", "announce removed"},
			{pool(nil, true, ""), "", ""},
		}},
		{"only while master: nothing before the instance reports", []step{
			{pool(tied, true, "serving"), "withdraw", "vrrp instance VI_1 is not yet reported (only_while_master)"},
			{vrrp("BACKUP"), "withdraw", "VI_1 is BACKUP"},
			{vrrp("MASTER"), "announce", "VI_1 became MASTER"},
			{pool(tied, false, "not serving: no real server"), "withdraw", "not serving"},
			{pool(tied, true, "serving"), "announce", "serving"},
			{vrrp("FAULT"), "withdraw", "VI_1 is FAULT"},
		}},
		{"another instance changes nothing", []step{
			{pool(tied, true, "serving"), "withdraw", ""},
			{func(p *Policy) []Decision { return p.SetVRRP("VI_2", "MASTER") }, "", ""},
		}},
		{"a removed virtual server is forgotten once", []step{
			{pool(plain, true, "serving"), "announce", ""},
			{func(p *Policy) []Decision { return p.Forget("vs", "removed by reload") }, "remove", "removed by reload"},
			{func(p *Policy) []Decision { return p.Forget("vs", "removed by reload") }, "", ""},
			{vrrp("MASTER"), "", ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Policy
			for i, s := range tc.steps {
				ds := s.do(&p)
				got := ""
				if len(ds) > 1 {
					t.Fatalf("step %d: %d decisions %+v, want at most one", i, len(ds), ds)
				}
				if len(ds) == 1 {
					d := ds[0]
					switch {
					case d.Remove:
						got = "remove"
					case d.Announce:
						got = "announce"
					default:
						got = "withdraw"
					}
					if d.Key != "vs" || (!d.Remove && d.Route.Prefix != route.Prefix) {
						t.Fatalf("step %d: decision %+v for the wrong virtual server or route", i, d)
					}
					if !strings.Contains(d.Why, s.why) {
						t.Errorf("step %d: reason %q, want it to say %q", i, d.Why, s.why)
					}
				}
				if got != s.want {
					t.Fatalf("step %d: decided %q (%+v), want %q", i, got, ds, s.want)
				}
			}
		})
	}
}
