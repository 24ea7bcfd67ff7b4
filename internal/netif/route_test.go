package netif

import (
	"net/netip"
	"testing"

	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

// HasRoute finds a route exactly as AddRoute put it, not one that differs in any attribute
// AddRoute sets, and no longer finds it once it is deleted or replaced behind its back.
func TestHasRouteFindsTheRouteAsInstalled(t *testing.T) {
	ns := testenv.NewNamespace(t, "hr")
	peer := testenv.NewNamespace(t, "hrp")
	testenv.Veth(t, ns, "eth0", peer, "eth0")
	ns.Addr(t, "eth0", "192.0.2.1/24")
	ns.Addr(t, "eth0", "2001:db8::1/64")
	h, err := OpenNamespace(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	routes := []readBackCase[Route]{
		{"via", Route{Dst: p("198.51.100.0/25"), Via: a("192.0.2.254"), Dev: "eth0"},
			Route{Dst: p("198.51.100.0/25"), Via: a("192.0.2.253"), Dev: "eth0"}},
		{"src and metric", Route{Dst: p("198.51.100.128/25"), Src: a("192.0.2.1"), Dev: "eth0", Scope: unix.RT_SCOPE_LINK, Metric: 7},
			Route{Dst: p("198.51.100.128/25"), Src: a("192.0.2.2"), Dev: "eth0", Scope: unix.RT_SCOPE_LINK, Metric: 7}},
		{"blackhole", Route{Dst: p("203.0.113.0/24"), Type: unix.RTN_BLACKHOLE},
			Route{Dst: p("203.0.113.0/24"), Type: unix.RTN_UNREACHABLE}},
		{"default in a table", Route{Dst: p("0.0.0.0/0"), Via: a("192.0.2.254"), Table: 100},
			Route{Dst: p("0.0.0.0/0"), Via: a("192.0.2.254"), Table: 101}},
		{"IPv6", Route{Dst: p("2001:db8:1::/48"), Via: a("2001:db8::fe"), Dev: "eth0"},
			Route{Dst: p("2001:db8:1::/48"), Via: a("2001:db8::fe"), Dev: "eth0", Metric: 5}},
		{"IPv6 blackhole", Route{Dst: p("2001:db8:2::/48"), Type: unix.RTN_BLACKHOLE},
			Route{Dst: p("2001:db8:2::/64"), Type: unix.RTN_BLACKHOLE}},
	}
	checkReadBack(t, routes, h.HasRoute, h.AddRoute, func() string { return ns.Run(t, "ip", "route", "show", "table", "all") })
	// Behind vigil's back: one route deleted, one replaced by another with the same key.
	ns.Run(t, "ip", "route", "del", "203.0.113.0/24")
	ns.Run(t, "ip", "route", "replace", "198.51.100.0/25", "via", "192.0.2.253", "dev", "eth0")
	for _, gone := range []Route{routes[2].entry, routes[0].entry} {
		if ok, err := h.HasRoute(gone); ok || err != nil {
			t.Errorf("%+v deleted or replaced behind vigil's back: found %v, error %v", gone, ok, err)
		}
	}
	if _, err := h.HasRoute(Route{Dst: p("198.51.100.0/24"), Dev: "eth9"}); err == nil {
		t.Error("HasRoute through a missing interface: no error")
	}
}
