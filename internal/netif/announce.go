package netif

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
	"golang.org/x/sys/unix"
)

// Announcer sends gratuitous ARP and unsolicited neighbour advertisements for addresses that
// just arrived on one interface, so that neighbours update their caches at once. It opens its
// sockets on first use; Close releases them.
type Announcer struct {
	ifi *net.Interface
	arp int // AF_PACKET socket, -1 until first use
	ndp *ndp.Conn
}

// NewAnnouncer returns an Announcer for the named interface.
func NewAnnouncer(link string) (*Announcer, error) {
	ifi, err := Interface(link)
	if err != nil {
		return nil, err
	}
	return &Announcer{ifi: ifi, arp: -1}, nil
}

// Announce sends one gratuitous ARP request (IPv4: sender and target both ip, to the broadcast
// address, as Keepalived sends) or one unsolicited neighbour advertisement (IPv6: override set,
// to all nodes ff02::1, with our link-layer address).
func (a *Announcer) Announce(ip netip.Addr) error {
	if ip.Is4() {
		return a.garp(ip)
	}
	return a.na(ip)
}

// garp writes the Ethernet frame itself on an AF_PACKET socket: the frame is 42 bytes and
// fixed, and this keeps a dependency out.
func (a *Announcer) garp(ip netip.Addr) error {
	if len(a.ifi.HardwareAddr) != 6 {
		return fmt.Errorf("netif: gratuitous ARP on %s: not an Ethernet interface", a.ifi.Name)
	}
	if a.arp < 0 {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return fmt.Errorf("netif: ARP socket on %s: %w", a.ifi.Name, err)
		}
		a.arp = fd
	}
	f := garpFrame(a.ifi.HardwareAddr, ip)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: a.ifi.Index, Halen: 6}
	copy(to.Addr[:], broadcast)
	if err := unix.Sendto(a.arp, f, 0, to); err != nil {
		return fmt.Errorf("netif: gratuitous ARP for %s on %s: %w", ip, a.ifi.Name, err)
	}
	return nil
}

var broadcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// garpFrame builds a broadcast Ethernet frame carrying an ARP request whose sender and target
// addresses are both ip (RFC 5227's ARP announcement).
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	f := make([]byte, 0, 42)
	f = append(f, broadcast...)
	f = append(f, mac...)
	f = append(f, 0x08, 0x06)             // EtherType ARP
	f = append(f, 0, 1, 0x08, 0x00, 6, 4) // Ethernet, IPv4, address lengths
	f = append(f, 0, 1)                   // request
	v4 := ip.As4()
	f = append(f, mac...)
	f = append(f, v4[:]...)
	f = append(f, 0, 0, 0, 0, 0, 0)
	f = append(f, v4[:]...)
	return f
}

func (a *Announcer) na(ip netip.Addr) error {
	if a.ndp == nil {
		c, _, err := ndp.Listen(a.ifi, ndp.LinkLocal)
		if err != nil {
			c, _, err = ndp.Listen(a.ifi, ndp.Unspecified)
		}
		if err != nil {
			return fmt.Errorf("netif: NDP socket on %s: %w", a.ifi.Name, err)
		}
		a.ndp = c
	}
	m := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: a.ifi.HardwareAddr}},
	}
	if err := a.ndp.WriteTo(m, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
		return fmt.Errorf("netif: unsolicited NA for %s on %s: %w", ip, a.ifi.Name, err)
	}
	return nil
}

// Close releases the sockets.
func (a *Announcer) Close() error {
	var err error
	if a.arp >= 0 {
		err = unix.Close(a.arp)
		a.arp = -1
	}
	if a.ndp != nil {
		if e := a.ndp.Close(); err == nil {
			err = e
		}
		a.ndp = nil
	}
	return err
}
