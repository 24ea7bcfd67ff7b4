package netif

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"", unix.RT_SCOPE_UNIVERSE, true}, {"global", unix.RT_SCOPE_UNIVERSE, true},
		{"site", unix.RT_SCOPE_SITE, true}, {"link", unix.RT_SCOPE_LINK, true},
		{"host", unix.RT_SCOPE_HOST, true}, {"nowhere", unix.RT_SCOPE_NOWHERE, true},
		{"200", 200, true}, {"300", 0, false}, {"galaxy", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseScope(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseScope(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestGarpFrameIsAnARPAnnouncement(t *testing.T) {
	mac := []byte{2, 0, 0, 0, 0, 1}
	f := garpFrame(mac, netip.MustParseAddr("192.0.2.7"))
	want := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
		0, 1, 0x08, 0, 6, 4, 0, 1,
		2, 0, 0, 0, 0, 1, 192, 0, 2, 7,
		0, 0, 0, 0, 0, 0, 192, 0, 2, 7,
	}
	if string(f) != string(want) {
		t.Errorf("frame\n% x\nwant\n% x", f, want)
	}
}

func TestAddressesComeAndGoWithTheirAttributes(t *testing.T) {
	testenv.RequireRoot(t)
	nsA := testenv.NewNamespace(t, "a")
	nsB := testenv.NewNamespace(t, "b")
	testenv.Veth(t, nsA, "eth0", nsB, "eth0")
	nsA.Addr(t, "eth0", "192.0.2.1/24")
	h, err := OpenNamespace(nsA.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	// Its own subnet: the kernel refuses a secondary whose scope differs from the primary's.
	v4 := Address{Prefix: netip.MustParsePrefix("198.51.100.50/24"), Link: "eth0", Label: "eth0:vip",
		Scope: unix.RT_SCOPE_LINK, Broadcast: netip.MustParseAddr("198.51.100.255")}
	v6 := Address{Prefix: netip.MustParsePrefix("2001:db8::50/64"), Link: "eth0", NoDAD: true}
	for i := 0; i < 2; i++ { // adding twice is harmless
		for _, a := range []Address{v4, v6} {
			if err := h.AddAddress(a); err != nil {
				t.Fatalf("add #%d: %v", i+1, err)
			}
		}
	}
	out := testenv.Run(t, "ip", "-n", nsA.Name, "-o", "addr", "show", "dev", "eth0")
	for _, want := range []string{"inet 198.51.100.50/24 brd 198.51.100.255 scope link eth0:vip", "inet6 2001:db8::50/64 scope global nodad"} {
		if !strings.Contains(out, want) {
			t.Errorf("ip addr lacks %q:\n%s", want, out)
		}
	}
	p, err := h.PrimaryAddress("eth0", false, func(a netip.Addr) bool { return a == v4.Prefix.Addr() })
	if err != nil || p != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("primary IPv4 = %v, %v; want 192.0.2.1", p, err)
	}
	if p, err := h.PrimaryAddress("eth0", true, nil); err != nil || !p.IsLinkLocalUnicast() {
		t.Errorf("primary IPv6 = %v, %v; want the link-local address", p, err)
	}
	for i := 0; i < 2; i++ { // deleting what is gone is harmless
		for _, a := range []Address{v4, v6} {
			if err := h.DeleteAddress(a); err != nil {
				t.Fatalf("delete #%d: %v", i+1, err)
			}
		}
	}
	for _, ip := range []netip.Addr{v4.Prefix.Addr(), v6.Prefix.Addr()} {
		if ok, err := h.HasAddress("eth0", ip); err != nil || ok {
			t.Errorf("HasAddress(%v) after delete = %v, %v", ip, ok, err)
		}
	}
	if err := h.AddAddress(Address{Prefix: v4.Prefix, Link: "nosuch0"}); err == nil || !strings.Contains(err.Error(), "nosuch0") {
		t.Errorf("add on a missing interface: %v, want an error naming it", err)
	}

	ls, err := h.Link("eth0")
	if err != nil || !ls.Up {
		t.Fatalf("eth0 = %+v, %v; want up", ls, err)
	}
	testenv.Run(t, "ip", "-n", nsB.Name, "link", "set", "eth0", "down")
	if ls, _ := h.Link("eth0"); ls.Up {
		t.Error("eth0 reported up while its veth peer is down (no carrier)")
	}
}

func TestAnnounceUpdatesTheNeighboursCache(t *testing.T) {
	testenv.RequireRoot(t)
	nsA := testenv.NewNamespace(t, "a")
	nsB := testenv.NewNamespace(t, "b")
	testenv.Veth(t, nsA, "eth0", nsB, "eth0")
	nsA.Addr(t, "eth0", "192.0.2.1/24")
	nsB.Addr(t, "eth0", "192.0.2.2/24")
	nsA.Addr(t, "eth0", "2001:db8::1/64")
	nsB.Addr(t, "eth0", "2001:db8::2/64")
	// B still believes the addresses are at the old master's MAC, as after a failover.
	vip4, vip6 := netip.MustParseAddr("192.0.2.60"), netip.MustParseAddr("2001:db8::60")
	for _, ip := range []netip.Addr{vip4, vip6} {
		testenv.Run(t, "ip", "-n", nsB.Name, "neigh", "replace", ip.String(), "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "stale")
	}
	var mac string
	if tcpdump := os.Getenv("VIGIL_NETIF_TCPDUMP"); tcpdump != "" {
		c := nsB.Command("tcpdump", "-U", "-n", "-i", "eth0", "-w", tcpdump)
		c.Start()
		time.Sleep(time.Second)
		defer func() { time.Sleep(500 * time.Millisecond); c.Process.Kill(); c.Wait() }()
	}
	nsA.Do(t, func() {
		a, err := NewAnnouncer("eth0")
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		mac = a.ifi.HardwareAddr.String()
		if err := a.Announce(vip4); err != nil {
			t.Error(err)
		}
		if err := a.Announce(vip6); err != nil {
			t.Error(err)
		}
	})
	check := func(ip netip.Addr) {
		deadline := time.Now().Add(3 * time.Second)
		for {
			out := testenv.Run(t, "ip", "-n", nsB.Name, "neigh", "show", ip.String())
			if strings.Contains(out, mac) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("B's neighbour entry for %v: %q, want A's MAC %s", ip, out, mac)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check(vip4)
	check(vip6)
}
