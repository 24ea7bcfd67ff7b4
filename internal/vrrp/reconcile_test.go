package vrrp

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// What a master reads back is what Keepalived tracks: no no_track entry, no route without an
// interface (the configuration says it is not tracked); use_vmac's move of the addresses to the
// VMAC is kept. The kernel's events find the instances that hold what they name.
func TestHeldIsWhatKeepalivedTracks(t *testing.T) {
	conf := vrrpConf("x", 3, 100, "1", "192.0.2.100/24\n    192.0.2.101/24 no_track", `use_vmac
  virtual_ipaddress_excluded {
    198.51.100.100/24 dev eth1
  }
  virtual_routes {
    203.0.113.0/25 via 192.0.2.254 dev eth0 table 7
    203.0.113.128/25 via 192.0.2.254 dev eth0 no_track
    blackhole 198.51.100.0/25
  }
  virtual_rules {
    from 192.0.2.0/24 table 7 priority 100
    to 192.0.2.0/24 table 7 priority 101 no_track
  }`)
	m, err := NewManager(loadConf(t, conf), ManagerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.opts.ReconcileInterval != DefaultReconcileInterval {
		t.Errorf("ReconcileInterval 0 taken as %v, want %v", m.opts.ReconcileInterval, DefaultReconcileInterval)
	}
	h := m.specs[0].held
	var got []string
	for _, a := range h.vips {
		got = append(got, a.String())
	}
	for _, r := range h.routes {
		got = append(got, r.String())
	}
	for _, r := range h.rules {
		got = append(got, r.String())
	}
	want := []string{"192.0.2.100/24 dev vrrp.51", "198.51.100.100/24 dev eth1", "203.0.113.0/25 via 192.0.2.254 dev eth0 table 7",
		"from 192.0.2.0/24 pref 100 table 7"}
	if len(got) != len(want) {
		t.Fatalf("held %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("held #%d %q, want %q", i, got[i], want[i])
		}
	}

	tests := []struct {
		name  string
		holds bool
		want  bool
	}{
		{"its address", h.holdsAddress(netip.MustParseAddr("198.51.100.100")), true},
		{"a no_track address", h.holdsAddress(netip.MustParseAddr("192.0.2.101")), false},
		{"its route in its table", h.holdsRoute(netip.MustParsePrefix("203.0.113.0/25"), 7), true},
		{"the same prefix in main", h.holdsRoute(netip.MustParsePrefix("203.0.113.0/25"), unix.RT_TABLE_MAIN), false},
		{"an IPv4 rule", h.holdsRule(unix.AF_INET), true},
		{"an IPv6 rule", h.holdsRule(unix.AF_INET6), false},
	}
	for _, tc := range tests {
		if tc.holds != tc.want {
			t.Errorf("%s: holds %v, want %v", tc.name, tc.holds, tc.want)
		}
	}
}
