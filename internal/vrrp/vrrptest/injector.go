// Package vrrptest sends hand-made VRRP packets from a network namespace, for the tests of what
// vigil does with hostile or broken ones: a wrong TTL, a broken checksum, a wrong password, a
// foreign source. It is imported by tests only.
package vrrptest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vigil-lb/vigil/internal/testenv"
	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Injector sends VRRP packets (IP protocol 112) from one address of a namespace, with whatever
// TTL or hop limit and content the test asks for.
type Injector struct {
	src  netip.Addr
	ifi  int           // the index of the interface IPv6 packets leave by, in the namespace
	raw4 *ipv4.RawConn // IPv4: the test writes the IP header
	pc6  *ipv6.PacketConn
}

// NewInjector opens a raw socket in ns bound to src (an address of ifname in ns), closed when
// the test ends. IPv6 packets leave by ifname (a link-local multicast group needs it).
func NewInjector(t testing.TB, ns *testenv.Namespace, ifname string, src netip.Addr) *Injector {
	t.Helper()
	network := "ip4:112"
	if src.Is6() {
		network = "ip6:112"
	}
	var pc net.PacketConn
	j := &Injector{src: src}
	err := ns.DoErr(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		j.ifi = ifi.Index
		pc, err = net.ListenPacket(network, src.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if src.Is6() {
		j.pc6 = ipv6.NewPacketConn(pc)
		return j
	}
	raw, err := ipv4.NewRawConn(pc)
	if err != nil {
		t.Fatal(err)
	}
	j.raw4 = raw
	return j
}

// Marshal encodes adv as sent from the injector's address to dst, with a right checksum.
func (j *Injector) Marshal(t testing.TB, adv packet.Advert, dst netip.Addr) []byte {
	t.Helper()
	b, err := adv.Marshal(packet.Envelope{Src: j.src, Dst: dst})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Send sends adv to dst with TTL (hop limit) ttl.
func (j *Injector) Send(t testing.TB, adv packet.Advert, dst netip.Addr, ttl int) {
	t.Helper()
	j.SendBytes(t, j.Marshal(t, adv, dst), dst, ttl)
}

// SendBytes sends b, a VRRP message the test may have broken, to dst with TTL (hop limit) ttl.
func (j *Injector) SendBytes(t testing.TB, b []byte, dst netip.Addr, ttl int) {
	t.Helper()
	if j.pc6 != nil {
		cm := &ipv6.ControlMessage{HopLimit: ttl, IfIndex: j.ifi}
		if _, err := j.pc6.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Fatal(err)
		}
		return
	}
	h := &ipv4.Header{Version: 4, Len: ipv4.HeaderLen, TotalLen: ipv4.HeaderLen + len(b), TTL: ttl,
		Protocol: packet.ProtocolVRRP, Src: j.src.AsSlice(), Dst: dst.AsSlice()}
	if err := j.raw4.WriteTo(h, b, nil); err != nil {
		t.Fatal(err)
	}
}
