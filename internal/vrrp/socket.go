package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vigil-lb/vigil/internal/vrrp/packet"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// conn is an instance's VRRP socket: a raw IP socket for protocol 112 bound to the instance's
// interface, joined to the multicast group when the instance speaks multicast.
type conn interface {
	// Read waits for the next packet and returns its payload (the VRRP message, in buf), what
	// the codec needs from its IP header, and the index of the interface it arrived on.
	Read(buf []byte) (payload []byte, env packet.Envelope, ifindex int, err error)
	// Write sends the VRRP message b from the instance's address to dst with TTL/hop limit
	// ttl.
	Write(b []byte, dst netip.Addr, ttl int) error
	Close() error
}

// sockOpts is what opening a socket needs.
type sockOpts struct {
	ifi   *net.Interface
	src   netip.Addr // the address adverts leave from
	group netip.Addr // multicast group to join; invalid for unicast
	ah    *ahSealer  // IPv4 auth_type AH: the socket is for protocol 51; nil without
	// freebind lets adverts leave from an address not (yet) on the host: unicast sockets,
	// as Keepalived 2.3.3 sets IP_FREEBIND/IPV6_FREEBIND on them, so that an instance whose
	// unicast_src_ip comes later (a floating or slow address) speaks at once.
	freebind bool
}

// control runs fn on c's file descriptor.
func control(c net.PacketConn, fn func(fd int) error) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return fmt.Errorf("socket has no file descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// setFreebind sets IP_FREEBIND or IPV6_FREEBIND on c.
func setFreebind(c net.PacketConn, ipv6 bool) error {
	level, opt := unix.SOL_IP, unix.IP_FREEBIND
	if ipv6 {
		level, opt = unix.SOL_IPV6, unix.IPV6_FREEBIND
	}
	return control(c, func(fd int) error { return unix.SetsockoptInt(fd, level, opt, 1) })
}

func bindToDevice(c net.PacketConn, ifname string) error {
	return control(c, func(fd int) error {
		return syscall.SetsockoptString(fd, syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, ifname)
	})
}

type conn4 struct {
	pc  net.PacketConn
	raw *ipv4.RawConn
	src net.IP
	ifi *net.Interface
	ah  *ahSealer
}

func openConn4(o sockOpts) (conn, error) {
	proto := packet.ProtocolVRRP
	if o.ah != nil {
		proto = packet.ProtocolAH
	}
	pc, err := net.ListenPacket(fmt.Sprintf("ip4:%d", proto), "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("open raw IPv4 socket for protocol %d: %w", proto, err)
	}
	c := &conn4{pc: pc, src: o.src.AsSlice(), ifi: o.ifi, ah: o.ah}
	if err := c.setup(o); err != nil {
		pc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn4) setup(o sockOpts) error {
	if err := bindToDevice(c.pc, o.ifi.Name); err != nil {
		return fmt.Errorf("bind raw socket to %s: %w", o.ifi.Name, err)
	}
	if o.freebind {
		if err := setFreebind(c.pc, false); err != nil {
			return fmt.Errorf("IP_FREEBIND: %w", err)
		}
	}
	raw, err := ipv4.NewRawConn(c.pc)
	if err != nil {
		return fmt.Errorf("raw IPv4 socket: %w", err)
	}
	c.raw = raw
	if err := raw.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		return fmt.Errorf("ask for the arriving interface: %w", err)
	}
	if err := raw.SetMulticastInterface(o.ifi); err != nil {
		return fmt.Errorf("multicast interface %s: %w", o.ifi.Name, err)
	}
	if err := raw.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("multicast loopback off: %w", err)
	}
	if err := raw.SetMulticastTTL(packet.HopLimit); err != nil {
		return fmt.Errorf("multicast TTL: %w", err)
	}
	if o.group.IsValid() {
		if err := raw.JoinGroup(o.ifi, &net.IPAddr{IP: o.group.AsSlice()}); err != nil {
			return fmt.Errorf("join %s on %s: %w", o.group, o.ifi.Name, err)
		}
	}
	return nil
}

func (c *conn4) Read(buf []byte) ([]byte, packet.Envelope, int, error) {
	h, p, cm, err := c.raw.ReadFrom(buf)
	if err != nil {
		return nil, packet.Envelope{}, 0, err
	}
	src, _ := netip.AddrFromSlice(h.Src.To4())
	dst, _ := netip.AddrFromSlice(h.Dst.To4())
	idx := 0
	if cm != nil {
		idx = cm.IfIndex
	}
	return p, packet.Envelope{Src: src, Dst: dst, Protocol: uint8(h.Protocol), HopLimit: h.TTL}, idx, nil
}

func (c *conn4) Write(b []byte, dst netip.Addr, ttl int) error {
	h := &ipv4.Header{
		Version:  ipv4.Version,
		Len:      ipv4.HeaderLen,
		TOS:      0xc0, // precedence internetwork control, as Keepalived sends
		TotalLen: ipv4.HeaderLen + len(b),
		TTL:      ttl,
		Protocol: packet.ProtocolVRRP,
		Src:      c.src,
		Dst:      dst.AsSlice(),
	}
	if c.ah != nil {
		if err := c.ah.seal(h, b); err != nil {
			return err
		}
	}
	return c.raw.WriteTo(h, b, nil)
}

func (c *conn4) Close() error { return c.pc.Close() }

type conn6 struct {
	pc  net.PacketConn
	p   *ipv6.PacketConn
	src net.IP
	ifi *net.Interface
}

func openConn6(o sockOpts) (conn, error) {
	pc, err := net.ListenPacket(fmt.Sprintf("ip6:%d", packet.ProtocolVRRP), "::")
	if err != nil {
		return nil, fmt.Errorf("open raw IPv6 socket for protocol 112: %w", err)
	}
	c := &conn6{pc: pc, p: ipv6.NewPacketConn(pc), src: o.src.AsSlice(), ifi: o.ifi}
	if err := c.setup(o); err != nil {
		pc.Close()
		return nil, err
	}
	return c, nil
}

func (c *conn6) setup(o sockOpts) error {
	if err := bindToDevice(c.pc, o.ifi.Name); err != nil {
		return fmt.Errorf("bind raw socket to %s: %w", o.ifi.Name, err)
	}
	if o.freebind {
		if err := setFreebind(c.pc, true); err != nil {
			return fmt.Errorf("IPV6_FREEBIND: %w", err)
		}
	}
	if err := c.p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface|ipv6.FlagDst, true); err != nil {
		return fmt.Errorf("ask for hop limit, interface and destination: %w", err)
	}
	if err := c.p.SetMulticastInterface(o.ifi); err != nil {
		return fmt.Errorf("multicast interface %s: %w", o.ifi.Name, err)
	}
	if err := c.p.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("multicast loopback off: %w", err)
	}
	if err := c.p.SetMulticastHopLimit(packet.HopLimit); err != nil {
		return fmt.Errorf("multicast hop limit: %w", err)
	}
	if err := c.p.SetHopLimit(packet.HopLimit); err != nil {
		return fmt.Errorf("hop limit: %w", err)
	}
	if o.group.IsValid() {
		if err := c.p.JoinGroup(o.ifi, &net.IPAddr{IP: o.group.AsSlice()}); err != nil {
			return fmt.Errorf("join %s on %s: %w", o.group, o.ifi.Name, err)
		}
	}
	return nil
}

func (c *conn6) Read(buf []byte) ([]byte, packet.Envelope, int, error) {
	n, cm, from, err := c.p.ReadFrom(buf)
	if err != nil {
		return nil, packet.Envelope{}, 0, err
	}
	env := packet.Envelope{Protocol: packet.ProtocolVRRP, HopLimit: packet.NoHopLimitCheck}
	if ia, ok := from.(*net.IPAddr); ok {
		env.Src, _ = netip.AddrFromSlice(ia.IP)
	}
	idx := 0
	if cm != nil {
		env.Dst, _ = netip.AddrFromSlice(cm.Dst)
		env.HopLimit = cm.HopLimit
		idx = cm.IfIndex
	}
	return buf[:n], env, idx, nil
}

func (c *conn6) Write(b []byte, dst netip.Addr, ttl int) error {
	cm := &ipv6.ControlMessage{Src: c.src, IfIndex: c.ifi.Index, HopLimit: ttl}
	_, err := c.p.WriteTo(b, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: c.ifi.Name})
	return err
}

func (c *conn6) Close() error { return c.pc.Close() }
