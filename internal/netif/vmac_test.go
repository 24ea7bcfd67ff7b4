package netif

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestVMACAddrIsRFC5798VirtualRouterMAC(t *testing.T) {
	tests := []struct {
		vrid uint8
		ipv6 bool
		want string
	}{
		{1, false, "00:00:5e:00:01:01"},
		{51, false, "00:00:5e:00:01:33"},
		{255, false, "00:00:5e:00:01:ff"},
		{51, true, "00:00:5e:00:02:33"},
	}
	for _, tc := range tests {
		if got := VMACAddr(tc.vrid, tc.ipv6).String(); got != tc.want {
			t.Errorf("VMACAddr(%d, ipv6 %v) = %s, want %s", tc.vrid, tc.ipv6, got, tc.want)
		}
	}
}

// vmacDetails returns "ip -d link show" of name in ns, or "" if it is not there.
func vmacDetails(t *testing.T, ns *testenv.Namespace, name string) string {
	t.Helper()
	out, err := ns.Command("ip", "-d", "link", "show", "dev", name).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

func readConfIn(t *testing.T, ns *testenv.Namespace, link, key string) string {
	t.Helper()
	var v string
	ns.Do(t, func() {
		var err error
		if v, err = readConf(link, key); err != nil {
			t.Fatal(err)
		}
	})
	return v
}

func TestVMACIsCreatedAdoptedAndRemoved(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNamespace(t, "vm")
	peer := testenv.NewNamespace(t, "vp")
	testenv.Veth(t, ns, "eth0", peer, "eth0")
	ns.Addr(t, "eth0", "192.0.2.1/24")
	h, err := OpenNamespace(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	v := VMAC{Name: "vrrp.51", Parent: "eth0", MAC: VMACAddr(51, false)}
	l, err := h.EnsureVMAC(v)
	if err != nil {
		t.Fatal(err)
	}
	if l.Adopted || l.Index == 0 {
		t.Errorf("first EnsureVMAC = %+v, want a new interface", l)
	}
	d := vmacDetails(t, ns, "vrrp.51")
	for _, want := range []string{"vrrp.51@eth0", "link/ether 00:00:5e:00:01:33", "macvlan mode private", "addrgenmode none", ",UP"} {
		if !strings.Contains(d, want) {
			t.Errorf("vmac lacks %q:\n%s", want, d)
		}
	}
	if a, _ := h.Addresses("vrrp.51"); len(a) != 0 {
		t.Errorf("vmac has addresses %v, want none (no EUI-64 link-local from the shared MAC)", a)
	}

	// A crashed run's VMAC is adopted, with the same index; a wrong MAC is fixed.
	testenv.Run(t, "ip", "-n", ns.Name, "link", "set", "vrrp.51", "down", "address", "02:00:00:00:00:09")
	again, err := h.EnsureVMAC(v)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Adopted || again.Index != l.Index {
		t.Errorf("second EnsureVMAC = %+v, want the interface %d adopted", again, l.Index)
	}
	if d := vmacDetails(t, ns, "vrrp.51"); !strings.Contains(d, "00:00:5e:00:01:33") || !strings.Contains(d, ",UP") {
		t.Errorf("adopted vmac not fixed (MAC, up):\n%s", d)
	}

	// A macvlan of that name in another mode is replaced.
	testenv.Run(t, "ip", "-n", ns.Name, "link", "del", "vrrp.51")
	testenv.Run(t, "ip", "-n", ns.Name, "link", "add", "link", "eth0", "name", "vrrp.51", "type", "macvlan", "mode", "bridge")
	if l, err = h.EnsureVMAC(v); err != nil || l.Adopted {
		t.Errorf("EnsureVMAC over a bridge-mode macvlan = %+v, %v; want it replaced", l, err)
	}
	if d := vmacDetails(t, ns, "vrrp.51"); !strings.Contains(d, "macvlan mode private") {
		t.Errorf("vmac not in private mode after replacing:\n%s", d)
	}

	// Something else of that name is never touched.
	testenv.Run(t, "ip", "-n", ns.Name, "link", "add", "vrrp.52", "type", "veth", "peer", "name", "other")
	if _, err := h.EnsureVMAC(VMAC{Name: "vrrp.52", Parent: "eth0", MAC: VMACAddr(52, false)}); err == nil {
		t.Error("EnsureVMAC took over a veth")
	}
	if err := h.DeleteVMAC("vrrp.52"); err == nil || vmacDetails(t, ns, "vrrp.52") == "" {
		t.Errorf("DeleteVMAC on a veth = %v; want an error and the veth kept", err)
	}

	// IPv6: the parent's link-local address goes on the VMAC.
	ll := netip.MustParseAddr("fe80::1:2")
	v6 := VMAC{Name: "vrrp6.51", Parent: "eth0", MAC: VMACAddr(51, true), LinkLocal: ll}
	if _, err := h.EnsureVMAC(v6); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.HasAddress("vrrp6.51", ll); err != nil || !ok {
		t.Errorf("IPv6 vmac lacks %v: %v", ll, err)
	}
	names, err := h.VMACsOn("eth0")
	if err != nil || strings.Join(names, ",") != "vrrp.51,vrrp6.51" {
		t.Errorf("VMACsOn(eth0) = %v, %v; want vrrp.51 and vrrp6.51", names, err)
	}

	for _, n := range []string{"vrrp.51", "vrrp6.51"} {
		if err := h.DeleteVMAC(n); err != nil {
			t.Fatal(err)
		}
		if vmacDetails(t, ns, n) != "" {
			t.Errorf("%s still there after DeleteVMAC", n)
		}
		if err := h.DeleteVMAC(n); err != nil {
			t.Errorf("DeleteVMAC of a missing interface: %v", err)
		}
	}
}

func TestVMACSysctlsAreSetAndTheParentRestored(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNamespace(t, "vs")
	peer := testenv.NewNamespace(t, "vq")
	testenv.Veth(t, ns, "eth0", peer, "eth0")
	testenv.Run(t, "ip", "-n", ns.Name, "link", "add", "link", "eth0", "name", "vrrp.7", "address",
		VMACAddr(7, false).String(), "type", "macvlan", "mode", "private")
	var prev ParentARP
	ns.Do(t, func() {
		var err error
		if prev, err = SetVMACSysctls("vrrp.7", "eth0", false); err != nil {
			t.Fatal(err)
		}
	})
	var ra string
	ns.Do(t, func() {
		b, err := os.ReadFile("/proc/sys/net/ipv6/conf/vrrp.7/accept_ra")
		if err != nil {
			t.Fatal(err)
		}
		ra = strings.TrimSpace(string(b))
	})
	if ra != "0" {
		t.Errorf("vrrp.7 IPv6 accept_ra = %s, want 0 (no router solicitations from the virtual MAC)", ra)
	}
	if prev.ArpIgnore != "0" || prev.ArpFilter != "0" || prev.ArpAnnounce != "0" {
		t.Errorf("previous parent values = %+v, want 0, 0 and 0", prev)
	}
	for _, c := range []struct{ link, key, want string }{
		{"vrrp.7", "arp_ignore", "1"}, {"vrrp.7", "accept_local", "1"}, {"vrrp.7", "rp_filter", "0"},
		{"vrrp.7", "promote_secondaries", "1"}, {"eth0", "arp_ignore", "1"}, {"eth0", "arp_filter", "1"}, {"eth0", "arp_announce", "2"},
	} {
		if got := readConfIn(t, ns, c.link, c.key); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.link, c.key, got, c.want)
		}
	}
	ns.Do(t, func() {
		if err := prev.Restore(); err != nil {
			t.Fatal(err)
		}
	})
	for _, k := range []string{"arp_ignore", "arp_filter", "arp_announce"} {
		if v := readConfIn(t, ns, "eth0", k); v != "0" {
			t.Errorf("parent after Restore: %s %s, want 0", k, v)
		}
	}
	// The process's own namespace was not touched.
	if _, err := os.Stat("/proc/sys/net/ipv4/conf/vrrp.7"); err == nil {
		t.Error("vrrp.7 appears in the test process's own namespace")
	}
	if _, err := confPath("../all", "x"); err == nil {
		t.Error("confPath accepted a name with a slash")
	}
}

func TestVMACReportRulesAreInstalledAndRemoved(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "nft") // to read the rules back
	ns := testenv.NewNamespace(t, "vr")
	list := func() string {
		out, _ := ns.Command("nft", "list", "ruleset").CombinedOutput()
		return string(out)
	}
	ns.Do(t, func() {
		for i := 0; i < 2; i++ { // installing again replaces
			if err := RedirectVMACReports("vrrp.51", 7); err != nil {
				t.Fatal(err)
			}
		}
	})
	got := list()
	t.Logf("%s", got)
	if n := strings.Count(got, "drop"); n != 3 {
		t.Errorf("%d rules that drop, want 3 (IGMP, MLDv1, MLDv2):\n%s", n, got)
	}
	ns.Do(t, func() {
		for i := 0; i < 2; i++ { // removing what is not there is fine
			if err := RemoveVMACReports("vrrp.51"); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := list(); strings.Contains(got, "vigil-vmac") {
		t.Errorf("table left after RemoveVMACReports:\n%s", got)
	}
}
