package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Address is one address to put on (or take off) an interface.
type Address struct {
	Prefix netip.Prefix
	// Link is the interface name.
	Link string
	// Label is the IPv4 label ("eth0:1"); empty for none.
	Label string
	// Scope is the address scope (unix.RT_SCOPE_*); 0 is global.
	Scope int
	// Broadcast is the IPv4 broadcast address; the zero value sets none.
	Broadcast netip.Addr
	// Peer is the other end of a point-to-point address.
	Peer netip.Addr
	// NoDAD skips IPv6 duplicate address detection (iproute2 "nodad"), so the address is usable
	// at once.
	NoDAD bool
	// NoPrefixRoute asks the kernel not to add a route for the prefix.
	NoPrefixRoute bool
}

func (a Address) String() string {
	return a.Prefix.String() + " dev " + a.Link
}

// ParseScope reads an iproute2 scope name ("global", "site", "link", "host", "nowhere") or a
// number.
func ParseScope(s string) (int, error) {
	switch s {
	case "", "global", "universe":
		return unix.RT_SCOPE_UNIVERSE, nil
	case "site":
		return unix.RT_SCOPE_SITE, nil
	case "link":
		return unix.RT_SCOPE_LINK, nil
	case "host":
		return unix.RT_SCOPE_HOST, nil
	case "nowhere":
		return unix.RT_SCOPE_NOWHERE, nil
	}
	n, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return 0, fmt.Errorf("scope %q: want global, site, link, host, nowhere or 0-255", s)
	}
	return int(n), nil
}

// Host is the network configuration of one network namespace.
type Host struct {
	h *netlink.Handle
}

// Open returns the Host of the calling process's network namespace.
func Open() (*Host, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netif: netlink handle: %w", err)
	}
	return &Host{h: h}, nil
}

// OpenNamespace returns the Host of the named network namespace (/run/netns/NAME).
func OpenNamespace(name string) (*Host, error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("netif: network namespace %q: %w", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netif: netlink handle in namespace %q: %w", name, err)
	}
	return &Host{h: h}, nil
}

// Close releases the netlink sockets.
func (h *Host) Close() { h.h.Close() }

func (h *Host) link(name string) (netlink.Link, error) {
	l, err := h.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("netif: interface %q: %w", name, err)
	}
	return l, nil
}

func toNL(a Address) *netlink.Addr {
	n := &netlink.Addr{
		IPNet: &net.IPNet{IP: a.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(a.Prefix.Bits(), a.Prefix.Addr().BitLen())},
		Label: a.Label,
		Scope: a.Scope,
	}
	if a.Broadcast.IsValid() {
		n.Broadcast = a.Broadcast.AsSlice()
	}
	if a.Peer.IsValid() {
		n.Peer = &net.IPNet{IP: a.Peer.AsSlice(), Mask: net.CIDRMask(a.Peer.BitLen(), a.Peer.BitLen())}
	}
	if a.NoDAD {
		n.Flags |= unix.IFA_F_NODAD
	}
	if a.NoPrefixRoute {
		n.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	return n
}

// AddAddress puts a on its interface, replacing an address with the same prefix (so adding
// twice is harmless).
func (h *Host) AddAddress(a Address) error {
	l, err := h.link(a.Link)
	if err != nil {
		return err
	}
	if err := h.h.AddrReplace(l, toNL(a)); err != nil {
		return fmt.Errorf("netif: add %s: %w", a, err)
	}
	return nil
}

// DeleteAddress takes a off its interface. An address that is not there is not an error.
func (h *Host) DeleteAddress(a Address) error {
	l, err := h.link(a.Link)
	if err != nil {
		return err
	}
	if err := h.h.AddrDel(l, toNL(a)); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("netif: delete %s: %w", a, err)
	}
	return nil
}

// LinkAddr is an address found on an interface.
type LinkAddr struct {
	Prefix    netip.Prefix
	Label     string
	Tentative bool // IPv6 duplicate address detection not finished
}

// Addresses lists the addresses of the named interface, IPv4 ones first as the kernel orders
// them (the primary first).
func (h *Host) Addresses(link string) ([]LinkAddr, error) {
	l, err := h.link(link)
	if err != nil {
		return nil, err
	}
	list, err := dumpAgain(func() ([]netlink.Addr, error) { return h.h.AddrList(l, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("netif: list addresses of %q: %w", link, err)
	}
	out := make([]LinkAddr, 0, len(list))
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		ones, _ := a.Mask.Size()
		out = append(out, LinkAddr{
			Prefix:    netip.PrefixFrom(ip, ones),
			Label:     a.Label,
			Tentative: a.Flags&unix.IFA_F_TENTATIVE != 0,
		})
	}
	return out, nil
}

// HasAddress reports whether ip is on the named interface.
func (h *Host) HasAddress(link string, ip netip.Addr) (bool, error) {
	list, err := h.Addresses(link)
	if err != nil {
		return false, err
	}
	for _, a := range list {
		if a.Prefix.Addr() == ip {
			return true, nil
		}
	}
	return false, nil
}

// PrimaryAddress returns the address an instance on link speaks from: the first IPv4 address,
// or for IPv6 the first link-local address, skipping any in exclude (the virtual addresses,
// which may still be there from an earlier run).
func (h *Host) PrimaryAddress(link string, ipv6 bool, exclude func(netip.Addr) bool) (netip.Addr, error) {
	list, err := h.Addresses(link)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range list {
		ip := a.Prefix.Addr()
		if ip.Is4() == ipv6 || (ipv6 && !ip.IsLinkLocalUnicast()) || (exclude != nil && exclude(ip)) {
			continue
		}
		return ip, nil
	}
	fam := "IPv4"
	if ipv6 {
		fam = "IPv6 link-local"
	}
	return netip.Addr{}, fmt.Errorf("netif: interface %q has no %s address", link, fam)
}
