package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/netif"
	"github.com/vigil-lb/vigil/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestUseVMACPutsTheInstancesAddressesOnTheVMAC(t *testing.T) {
	tests := []struct {
		name     string
		extra    string
		vips     string
		wantErr  string
		wantName string
		wantMAC  string
		wantBase bool
		// wantLinks are the interfaces of the virtual addresses, in order.
		wantLinks []string
	}{
		{name: "default name", extra: "use_vmac", vips: "192.0.2.100/24\n192.0.2.101/24 dev eth1",
			wantName: "vrrp.51", wantMAC: "00:00:5e:00:01:33", wantLinks: []string{"vrrp.51", "eth1"}},
		{name: "given name and xmit base", extra: "use_vmac vh51\n  vmac_xmit_base", vips: "192.0.2.100/24",
			wantName: "vh51", wantMAC: "00:00:5e:00:01:33", wantBase: true, wantLinks: []string{"vh51"}},
		{name: "IPv6 instance", extra: "use_vmac", vips: "2001:db8::100/64",
			wantName: "vrrp.51", wantMAC: "00:00:5e:00:02:33", wantLinks: []string{"vrrp.51"}},
		{name: "no vmac", extra: "", vips: "192.0.2.100/24", wantLinks: []string{"eth0"}},
		{name: "use_vmac on an address", extra: "use_vmac", vips: "192.0.2.100/24 dev eth1 use_vmac", wantErr: "use_vmac on a virtual address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := loadConf(t, vrrpConf("x", 3, 100, "1", tc.vips, tc.extra))
			s, err := newSpec(c, c.VRRPInstances[0])
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("newSpec error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var links []string
			for _, a := range s.vips {
				links = append(links, a.Link)
			}
			if strings.Join(links, ",") != strings.Join(tc.wantLinks, ",") {
				t.Errorf("address links %v, want %v", links, tc.wantLinks)
			}
			if tc.wantName == "" {
				if s.vmac != nil {
					t.Errorf("vmac %+v without use_vmac", s.vmac)
				}
				return
			}
			if s.vmac == nil || s.vmac.name != tc.wantName || s.vmac.mac.String() != tc.wantMAC || s.vmac.xmitBase != tc.wantBase {
				t.Errorf("vmac %+v, want %s %s xmit base %v", s.vmac, tc.wantName, tc.wantMAC, tc.wantBase)
			}
		})
	}
}

// lan builds a bridge in its own namespace and one namespace per address, each with eth0
// plugged into the bridge: hosts on one Ethernet segment.
func lan(t *testing.T, addrs ...string) []*testenv.Namespace {
	t.Helper()
	br := testenv.NewNamespace(t, "br")
	br.Bridge(t, "br0")
	var out []*testenv.Namespace
	for i, a := range addrs {
		ns := testenv.NewNamespace(t, fmt.Sprintf("h%d", i))
		br.Attach(t, "br0", fmt.Sprintf("p%d", i), ns, "eth0")
		ns.Addr(t, "eth0", a)
		out = append(out, ns)
	}
	return out
}

// advertSourceMAC waits up to d for a VRRP advert from src (IPv4 or IPv6) to arrive on eth0 in
// ns and returns the Ethernet source address of its frame.
func advertSourceMAC(t *testing.T, ns *testenv.Namespace, src netip.Addr, d time.Duration) net.HardwareAddr {
	t.Helper()
	const ethPAll = 0x0003
	var fd int
	ns.Do(t, func() {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons16(ethPAll)))
		if err != nil {
			t.Fatal(err)
		}
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons16(ethPAll), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
	})
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // timeout: look at the deadline again
		}
		f := buf[:n]
		if n < 14+20 {
			continue
		}
		var from netip.Addr
		switch binary.BigEndian.Uint16(f[12:14]) {
		case 0x0800: // IPv4: protocol at 9, source at 12
			if f[14+9] != 112 {
				continue
			}
			from, _ = netip.AddrFromSlice(f[14+12 : 14+16])
		case 0x86dd: // IPv6: next header at 6, source at 8
			if n < 14+40 || f[14+6] != 112 {
				continue
			}
			from, _ = netip.AddrFromSlice(f[14+8 : 14+24])
		}
		if from == src {
			return net.HardwareAddr(bytes.Clone(f[6:12]))
		}
	}
	t.Fatalf("no VRRP advert from %s seen on eth0 in %s within %v", src, ns, d)
	return nil
}

func htons16(v uint16) uint16 { return v<<8 | v>>8 }

// announced reports whether frames hold a gratuitous ARP (IPv4) or an unsolicited neighbour
// advertisement (IPv6) for vip sent from the MAC mac.
func announced(frames [][]byte, mac string, vip netip.Addr) bool {
	for _, f := range frames {
		if len(f) < 14 || net.HardwareAddr(f[6:12]).String() != mac {
			continue
		}
		switch binary.BigEndian.Uint16(f[12:14]) {
		case 0x0806: // ARP: sender MAC at 8, sender IP at 14, target IP at 24
			if len(f) >= 14+28 && net.HardwareAddr(f[14+8:14+14]).String() == mac {
				sender, _ := netip.AddrFromSlice(f[14+14 : 14+18])
				target, _ := netip.AddrFromSlice(f[14+24 : 14+28])
				if sender == vip && target == vip {
					return true
				}
			}
		case 0x86dd: // ICMPv6 NA: type 136, target at 8 in the message
			if len(f) >= 14+40+24 && f[14+6] == 58 && f[14+40] == 136 {
				if target, _ := netip.AddrFromSlice(f[14+40+8 : 14+40+24]); target == vip {
					return true
				}
			}
		}
	}
	return false
}

// frameCapture records every frame arriving on eth0 in a namespace until end.
type frameCapture struct {
	fd     int
	stop   chan struct{}
	done   chan struct{}
	frames [][]byte
}

func startCapture(t *testing.T, ns *testenv.Namespace) *frameCapture {
	t.Helper()
	const ethPAll = 0x0003
	c := &frameCapture{stop: make(chan struct{}), done: make(chan struct{})}
	ns.Do(t, func() {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons16(ethPAll)))
		if err != nil {
			t.Fatal(err)
		}
		c.fd = fd
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons16(ethPAll), Ifindex: ifi.Index})
		}
		if err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
	})
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(c.fd)
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		buf := make([]byte, 2048)
		for {
			select {
			case <-c.stop:
				return
			default:
			}
			if n, _, err := unix.Recvfrom(c.fd, buf, 0); err == nil {
				c.frames = append(c.frames, bytes.Clone(buf[:n]))
			}
		}
	}()
	t.Cleanup(func() { c.end() })
	return c
}

// end stops the capture and returns the frames.
func (c *frameCapture) end() [][]byte {
	select {
	case <-c.stop:
	default:
		close(c.stop)
		<-c.done
		unix.Close(c.fd)
	}
	return c.frames
}

// foreignVMACFrames returns a description of each frame from the virtual MAC mac that is not
// the master's business: VRRP, ARP, neighbour discovery, or a packet from the VIP. Anything
// else (a membership report, a router solicitation) may come from the backup's VMAC, and would
// move the virtual MAC to the backup's switch port.
func foreignVMACFrames(frames [][]byte, mac string, vip netip.Addr) []string {
	var out []string
	for _, f := range frames {
		if len(f) < 14 || net.HardwareAddr(f[6:12]).String() != mac {
			continue
		}
		ok := false
		switch binary.BigEndian.Uint16(f[12:14]) {
		case 0x0806: // ARP
			ok = true
		case 0x0800:
			if len(f) >= 14+20 {
				src, _ := netip.AddrFromSlice(f[14+12 : 14+16])
				ok = src == vip || f[14+9] == 112
			}
		case 0x86dd:
			if len(f) >= 14+41 {
				src, _ := netip.AddrFromSlice(f[14+8 : 14+24])
				nd := f[14+6] == 58 && (f[14+40] == 135 || f[14+40] == 136) // NS, NA
				ok = src == vip || nd || f[14+6] == 112
			}
		}
		if !ok {
			out = append(out, fmt.Sprintf("% x", f[:min(len(f), 64)]))
		}
	}
	return out
}

var lladdrRE = regexp.MustCompile(`lladdr ([0-9a-f:]+)`)

// neighbourMAC reaches ip from ns (a TCP connection to a closed port: the refusal proves the
// address answered) and returns the MAC its neighbour table then has for ip.
func neighbourMAC(t *testing.T, ns *testenv.Namespace, ip netip.Addr) string {
	t.Helper()
	ns.Do(t, func() {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(ip, 9).String(), 2*time.Second)
		if err == nil {
			c.Close()
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("reach %s from %s: %v (want connection refused)", ip, ns, err)
		}
	})
	out := testenv.Run(t, "ip", "-n", ns.Name, "neigh", "show", ip.String())
	m := lladdrRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no neighbour entry for %s in %s after a ping: %q", ip, ns, out)
	}
	return m[1]
}

func linkExists(ns *testenv.Namespace, name string) bool {
	return ns.Command("ip", "link", "show", "dev", name).Run() == nil
}

func procConf(t *testing.T, ns *testenv.Namespace, link, key string) string {
	t.Helper()
	var v string
	ns.Do(t, func() {
		b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + link + "/" + key)
		if err != nil {
			t.Fatal(err)
		}
		v = strings.TrimSpace(string(b))
	})
	return v
}

// speaker is the address a router's adverts come from: its eth0's IPv4 address, or for IPv6
// its link-local address.
func speaker(t *testing.T, ns *testenv.Namespace, ipv6 bool) netip.Addr {
	t.Helper()
	h, err := netif.OpenNamespace(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a, err := h.PrimaryAddress("eth0", ipv6, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// vmacRouter is one router of a VMAC test: a vigil, or a Keepalived (whose state the test only
// sees through its addresses).
type vmacRouter struct {
	v *vigilProc
	k *keepalived
}

func startRouter(t *testing.T, ns *testenv.Namespace, conf string, keepalived bool) *vmacRouter {
	t.Helper()
	if keepalived {
		return &vmacRouter{k: startKeepalived(t, ns, conf)}
	}
	return &vmacRouter{v: startVigil(t, ns, conf)}
}

// is reports whether a vigil is in state st; a Keepalived always is, as far as the test knows.
func (r *vmacRouter) is(st string) bool { return r.v == nil || r.v.state("VI_1") == st }

func (r *vmacRouter) stop(t *testing.T) {
	t.Helper()
	if r.v != nil {
		r.v.stop(t, 10*time.Second)
	} else {
		r.k.resign(t, 10*time.Second)
	}
}

// Two routers with use_vmac on one LAN with a third host: the VIP answers from the virtual MAC,
// the adverts leave from it, the backup hears them on its own VMAC, and after the master
// resigns the third host reaches the VIP on the new master with the neighbour entry it already
// had. Either router may be Keepalived.
func TestVMACKeepsTheVirtualAddressesMACAcrossAFailover(t *testing.T) {
	t.Parallel()
	v4 := []string{"192.0.2.1/24", "192.0.2.2/24", "192.0.2.3/24"}
	v6 := []string{"2001:db8::1/64", "2001:db8::2/64", "2001:db8::3/64"}
	tests := []struct {
		name   string
		aK, bK bool // the first master A, the backup B is Keepalived
		addrs  []string
		vip    string
		mac    string
	}{
		{"IPv4", false, false, v4, "192.0.2.100/24", "00:00:5e:00:01:33"},
		{"IPv6", false, false, v6, "2001:db8::100/64", "00:00:5e:00:02:33"},
		{"IPv4 from Keepalived", true, false, v4, "192.0.2.100/24", "00:00:5e:00:01:33"},
		{"IPv6 from Keepalived", true, false, v6, "2001:db8::100/64", "00:00:5e:00:02:33"},
		{"IPv4 to Keepalived", false, true, v4, "192.0.2.100/24", "00:00:5e:00:01:33"},
		{"IPv6 to Keepalived", false, true, v6, "2001:db8::100/64", "00:00:5e:00:02:33"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hosts := lan(t, tc.addrs...)
			nsA, nsB, nsC := hosts[0], hosts[1], hosts[2]
			vip := netip.MustParsePrefix(tc.vip).Addr()
			ipv6 := vip.Is6()
			const vmac = "vrrp.51"
			// 1 s, as in the interop tests: at 0.2 s a busy test machine can delay an advert
			// past the backup's master down interval.
			advert, adv := time.Second, "1"
			// Keepalived leaves the parent's arp_announce alone: its reply to the third host
			// leaves through eth0, whose ARP request for the third host names the VIP as
			// sender with eth0's MAC, and the third host takes that MAC for the VIP.
			kArp := func(keepalived bool) bool { return keepalived && !ipv6 }
			checkNeighbour := func(when string, keepalived bool) {
				t.Helper()
				switch got := neighbourMAC(t, nsC, vip); {
				case got == tc.mac:
				case kArp(keepalived):
					t.Logf("%s: Keepalived's VIP answers at %s, not at the virtual MAC %s (known; vigil sets arp_announce=2 on the parent)", when, got, tc.mac)
				default:
					t.Fatalf("%s: the third host reaches %v at %s, want the virtual MAC %s", when, vip, got, tc.mac)
				}
			}
			capture := startCapture(t, nsC)
			// B starts once A is master, so that no start-up race makes B master for a moment:
			// every VRRP frame from the virtual MAC must be A's.
			a := startRouter(t, nsA, vrrpConf("a", 3, 150, adv, tc.vip, "use_vmac"), tc.aK)
			testenv.WaitFor(t, 5*advert+5*time.Second, "A master with the VIP on its VMAC", func() bool {
				return a.is("MASTER") && linkExists(nsA, vmac) && hasAddr(t, nsA, vmac, vip)
			})
			b := startRouter(t, nsB, vrrpConf("b", 3, 100, adv, tc.vip, "use_vmac"), tc.bK)
			settled := func() bool {
				return a.is("MASTER") && b.is("BACKUP") && linkExists(nsA, vmac) && hasAddr(t, nsA, vmac, vip) &&
					linkExists(nsB, vmac) && !hasAddr(t, nsB, vmac, vip) && !hasAddr(t, nsA, "eth0", vip)
			}
			testenv.WaitFor(t, 5*advert+5*time.Second, "A master with the VIP on its VMAC, B backup with an empty VMAC", settled)
			if !ipv6 && !tc.bK {
				if ai, af := procConf(t, nsB, "eth0", "arp_ignore"), procConf(t, nsB, "eth0", "arp_filter"); ai != "1" || af != "1" {
					t.Errorf("B's eth0: arp_ignore %s arp_filter %s, want 1 and 1", ai, af)
				}
			}
			if got := advertSourceMAC(t, nsC, speaker(t, nsA, ipv6), 3*advert).String(); got != tc.mac {
				t.Errorf("A's adverts leave from %s, want the virtual MAC %s", got, tc.mac)
			}
			checkNeighbour("A master", tc.aK)
			// B hears A on its own VMAC (a private-mode macvlan takes the frames sent from
			// its own MAC address) and stays backup past its master down interval.
			var before InstanceStatus
			if b.v != nil {
				before, _ = b.v.instance("VI_1")
			}
			time.Sleep(3*advert + skew(100, advert))
			if !settled() {
				t.Errorf("not settled after B's master down interval: B took the VIP or A lost it")
			}
			if b.v != nil {
				if st, _ := b.v.instance("VI_1"); st.State != "BACKUP" || len(st.Dropped) > 0 || st.Transitions != before.Transitions {
					t.Errorf("B while A is master: %s, transitions %d -> %d, dropped %v", st.State, before.Transitions, st.Transitions, st.Dropped)
				}
			}
			// Since both started, only VRRP, ARP, neighbour discovery and the VIP's own
			// packets left from the virtual MAC: vigil sends its VMACs' membership reports
			// out of the parent and no router solicitation (Keepalived is not held to this).
			frames := capture.end()
			if !announced(frames, tc.mac, vip) {
				if tc.aK {
					t.Logf("no gratuitous ARP/NA for %v from the virtual MAC seen from Keepalived", vip)
				} else {
					t.Errorf("no gratuitous ARP/NA for %v from the virtual MAC %s seen (of %d frames)", vip, tc.mac, len(frames))
				}
			}
			if foreign := foreignVMACFrames(frames, tc.mac, vip); !tc.aK && !tc.bK && len(foreign) > 0 {
				t.Errorf("%d frames from the virtual MAC that are not the master's (of %d captured), first: %s", len(foreign), len(frames), foreign[0])
			} else if len(foreign) > 0 {
				t.Logf("with Keepalived: %d frames from the virtual MAC that are not the master's, first: %s", len(foreign), foreign[0])
			}

			// A resigns: it removes its VMAC (vigil also puts its parent's ARP settings
			// back); B takes over.
			a.stop(t)
			if linkExists(nsA, vmac) {
				t.Errorf("A's VMAC still there after it stopped")
			}
			if !tc.aK && !ipv6 {
				if ai := procConf(t, nsA, "eth0", "arp_ignore"); ai != "0" {
					t.Errorf("A's eth0 arp_ignore %s after stopping, want 0 restored", ai)
				}
			}
			if out, err := nsA.Command("nft", "list", "tables").CombinedOutput(); !tc.aK && err == nil && strings.Contains(string(out), "vigil-vmac") {
				t.Errorf("A's membership report rules left after it stopped:\n%s", out)
			}
			testenv.WaitFor(t, 3*advert+skew(100, advert)+2*time.Second, "B master with the VIP on its VMAC", func() bool {
				return b.is("MASTER") && hasAddr(t, nsB, vmac, vip)
			})
			// The third host's entry still names the virtual MAC, and the VIP answers
			// there: only B can answer now.
			out := testenv.Run(t, "ip", "-n", nsC.Name, "neigh", "show", vip.String())
			if !strings.Contains(out, "lladdr "+tc.mac) && !kArp(tc.aK) {
				t.Errorf("third host's neighbour entry after failover: %q, want %s", out, tc.mac)
			}
			checkNeighbour("B master", tc.bK)
			if got := advertSourceMAC(t, nsC, speaker(t, nsB, ipv6), 3*advert).String(); got != tc.mac {
				t.Errorf("B's adverts leave from %s, want the virtual MAC %s", got, tc.mac)
			}
		})
	}
}

// resign stops Keepalived with SIGTERM, so that it sends priority 0 and removes its VMAC, and
// waits for it.
func (k *keepalived) resign(t *testing.T, timeout time.Duration) {
	t.Helper()
	syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(timeout):
		t.Errorf("Keepalived did not stop within %v of SIGTERM", timeout)
		k.kill()
	}
}

// vmac_xmit_base: the addresses still live on the VMAC, but adverts leave from the base
// interface's own MAC.
func TestVMACXmitBaseSendsAdvertsFromTheBaseInterface(t *testing.T) {
	t.Parallel()
	hosts := lan(t, "192.0.2.1/24", "192.0.2.3/24")
	nsA, nsC := hosts[0], hosts[1]
	vip := netip.MustParseAddr("192.0.2.100")
	a := startVigil(t, nsA, vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", "use_vmac vh51\n  vmac_xmit_base"))
	testenv.WaitFor(t, 10*time.Second, "A master with the VIP on its VMAC", func() bool {
		return a.state("VI_1") == "MASTER" && hasAddr(t, nsA, "vh51", vip)
	})
	ifi := testenv.Run(t, "ip", "-n", nsA.Name, "-o", "link", "show", "dev", "eth0")
	base := regexp.MustCompile(`link/ether ([0-9a-f:]+)`).FindStringSubmatch(ifi)
	if base == nil {
		t.Fatalf("no MAC for A's eth0: %q", ifi)
	}
	if got := advertSourceMAC(t, nsC, netip.MustParseAddr("192.0.2.1"), 3*time.Second).String(); got != base[1] {
		t.Errorf("adverts leave from %s, want the base interface's %s", got, base[1])
	}
	if got := neighbourMAC(t, nsC, vip); got != "00:00:5e:00:01:33" {
		t.Errorf("the VIP answers at %s, want the virtual MAC", got)
	}
}

// linkIndex is the index of link name in ns.
func linkIndex(t *testing.T, ns *testenv.Namespace, name string) string {
	t.Helper()
	out := testenv.Run(t, "ip", "-n", ns.Name, "-o", "link", "show", "dev", name)
	idx, _, ok := strings.Cut(out, ":")
	if !ok {
		t.Fatalf("ip link show %s: %q", name, out)
	}
	return idx
}

// A vigil killed as master leaves its VMAC with the VIP on it; started again (at a lower
// priority, so that it stays backup to the router that took over) it adopts that VMAC, and the
// stale address goes as a backup's addresses do.
func TestVMACLeftByAKilledVigilIsAdoptedAndCleaned(t *testing.T) {
	t.Parallel()
	hosts := lan(t, "192.0.2.1/24", "192.0.2.2/24")
	nsA, nsB := hosts[0], hosts[1]
	vip := netip.MustParseAddr("192.0.2.100")
	const vmac = "vrrp.51"
	a := startVigil(t, nsA, vrrpConf("a", 3, 150, "1", "192.0.2.100/24", "use_vmac"))
	testenv.WaitFor(t, 10*time.Second, "A master with the VIP on its VMAC", func() bool {
		return a.state("VI_1") == "MASTER" && linkExists(nsA, vmac) && hasAddr(t, nsA, vmac, vip)
	})
	idx := linkIndex(t, nsA, vmac)
	a.cmd.Process.Kill()
	<-a.done
	if !linkExists(nsA, vmac) || !hasAddr(t, nsA, vmac, vip) {
		t.Fatal("a killed vigil left no VMAC with the VIP: nothing to adopt")
	}

	b := startVigil(t, nsB, vrrpConf("b", 3, 100, "1", "192.0.2.100/24", "use_vmac"))
	testenv.WaitFor(t, 10*time.Second, "B master with the VIP on its VMAC", func() bool {
		return b.state("VI_1") == "MASTER" && linkExists(nsB, vmac) && hasAddr(t, nsB, vmac, vip)
	})
	a = startVigil(t, nsA, vrrpConf("a", 3, 50, "1", "192.0.2.100/24", "use_vmac"))
	testenv.WaitFor(t, 10*time.Second, "A back as backup with the stale VIP gone from its VMAC", func() bool {
		return a.state("VI_1") == "BACKUP" && !hasAddr(t, nsA, vmac, vip)
	})
	if got := linkIndex(t, nsA, vmac); got != idx {
		t.Errorf("A's VMAC has index %s, was %s: recreated, not adopted", got, idx)
	}
	if b, _ := os.ReadFile(a.log); !strings.Contains(string(b), "adopted an existing VMAC") {
		t.Error("A's log does not say it adopted the VMAC")
	}
	if st, _ := b.instance("VI_1"); st.State != "MASTER" || st.Transitions != 2 {
		t.Errorf("B is %s after %d transitions, want MASTER after 2 (INIT->BACKUP->MASTER)", st.State, st.Transitions)
	}
}

// The names Keepalived 2.2.7 gave these four instances (run in a namespace): the default, the
// IPv6 second choice, a name given to use_vmac, and the next free default.
func TestVMACNamesFollowKeepalived(t *testing.T) {
	conf := `vrrp_instance VI_4 {
  interface eth0
  virtual_router_id 51
  use_vmac
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_6 {
  interface eth0
  virtual_router_id 51
  use_vmac
  virtual_ipaddress {
    2001:db8::100/64
  }
}
vrrp_instance VI_X {
  interface eth1
  virtual_router_id 52
  use_vmac vrrp1.51
  virtual_ipaddress {
    198.51.100.100/24
  }
}
vrrp_instance VI_4B {
  interface eth1
  virtual_router_id 51
  use_vmac
  virtual_ipaddress {
    198.51.100.101/24
  }
}
`
	c := loadConf(t, conf)
	want := map[string]string{"VI_4": "vrrp.51", "VI_6": "vrrp6.51", "VI_X": "vrrp1.51", "VI_4B": "vrrp2.51"}
	for _, v := range c.VRRPInstances {
		if got := vmacName(c, v); got != want[v.Name] {
			t.Errorf("%s: VMAC name %s, want %s", v.Name, got, want[v.Name])
		}
	}
	taken := map[string]bool{"vrrp.9": true, "vrrp6.9": true, "vrrp1.9": true, "vrrp2.9": true, "vrrp3.9": true, "vrrp4.9": true, "vrrp5.9": true}
	if got := freeVMACName(9, true, taken); got != "vrrp7.9" {
		t.Errorf("IPv6 after vrrp5.9: %s, want vrrp7.9 (6 was tried second)", got)
	}
}

// use_vmac's options of Keepalived 2.3: "name" (here for a VMAC called "group"), "group N" for
// the VMAC's interface group (the parent's by default), and a MAC address of five octets, the
// VRID being the sixth.
func TestUseVMACNameGroupAndMACOptions(t *testing.T) {
	t.Parallel()
	hosts := lan(t, "192.0.2.1/24", "192.0.2.3/24")
	nsA := hosts[0]
	testenv.Run(t, "ip", "-n", nsA.Name, "link", "set", "dev", "eth0", "group", "7")
	vip := netip.MustParseAddr("192.0.2.100")
	a := startVigil(t, nsA, vrrpConf("a", 3, 150, "0.2", "192.0.2.100/24", "use_vmac name group 02:aa:bb:cc:dd group 42"))
	testenv.WaitFor(t, 10*time.Second, "A master with the VIP on its VMAC named group", func() bool {
		return a.state("VI_1") == "MASTER" && hasAddr(t, nsA, "group", vip)
	})
	out := testenv.Run(t, "ip", "-n", nsA.Name, "-d", "-o", "link", "show", "dev", "group")
	if !strings.Contains(out, "link/ether 02:aa:bb:cc:dd:33") || !strings.Contains(out, "group 42") {
		t.Fatalf("VMAC: %s", out)
	}
	// Without "group", the parent's group (7).
	testenv.Run(t, "ip", "-n", hosts[1].Name, "link", "set", "dev", "eth0", "group", "9")
	b := startVigil(t, hosts[1], strings.Replace(vrrpConf("b", 3, 150, "0.2", "192.0.2.101/24", "use_vmac vb52"), "virtual_router_id 51", "virtual_router_id 52", 1))
	testenv.WaitFor(t, 10*time.Second, "B master on its VMAC", func() bool { return b.state("VI_1") == "MASTER" })
	if out := testenv.Run(t, "ip", "-n", hosts[1].Name, "-d", "-o", "link", "show", "dev", "vb52"); !strings.Contains(out, "group 9") {
		t.Fatalf("VMAC without group: %s", out)
	}
}
