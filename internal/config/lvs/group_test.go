package lvs

import (
	"net/netip"
	"slices"
	"testing"
)

func TestVirtualServerAddresses(t *testing.T) {
	a := netip.MustParseAddr
	rng := func(first, last string, port uint16) VSGRange {
		return VSGRange{First: a(first), Last: a(last), Port: port}
	}
	big := &VirtualServerGroup{Name: "big", Ranges: []VSGRange{rng("198.51.100.0", "198.51.101.255", 80)}}
	tests := []struct {
		name string
		vs   *VirtualServer
		want []netip.Addr
	}{
		{"an address", &VirtualServer{Kind: VSKindAddress, Address: a("192.0.2.10"), Port: 80}, []netip.Addr{a("192.0.2.10")}},
		{"a firewall mark", &VirtualServer{Kind: VSKindFwmark, Fwmark: 5}, nil},
		{"a group not linked", &VirtualServer{Kind: VSKindGroup, Group: "web"}, nil},
		{"a group: ranges expanded, each address once", &VirtualServer{Kind: VSKindGroup, Group: "web", group: &VirtualServerGroup{Name: "web",
			Ranges:  []VSGRange{rng("192.0.2.10", "192.0.2.10", 80), rng("192.0.2.10", "192.0.2.12", 443), rng("2001:db8::1", "2001:db8::1", 80)},
			Fwmarks: []VSGFwmark{{Mark: 7}}}},
			[]netip.Addr{a("192.0.2.10"), a("192.0.2.11"), a("192.0.2.12"), a("2001:db8::1")}},
		{"a group over MaxGroupMembers", &VirtualServer{Kind: VSKindGroup, Group: "big", group: big}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.vs.Addresses(); !slices.Equal(got, tc.want) {
				t.Errorf("Addresses() = %v, want %v", got, tc.want)
			}
		})
	}
	// The last address of the space ends a range rather than wrapping.
	if got, ok := (&VirtualServerGroup{Ranges: []VSGRange{rng("255.255.255.254", "255.255.255.255", 80)}}).Addresses(10); !ok || len(got) != 2 {
		t.Errorf("a range at the end of the space: %v, %v", got, ok)
	}
}
