package netif

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VMACAddr returns the virtual router MAC address of RFC 5798 section 7.3 for vrid:
// 00:00:5e:00:01:VRID for IPv4 and 00:00:5e:00:02:VRID for IPv6.
func VMACAddr(vrid uint8, ipv6 bool) net.HardwareAddr {
	fam := byte(1)
	if ipv6 {
		fam = 2
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, fam, vrid}
}

// isVRRPMAC reports whether mac is in the VRRP virtual router range 00:00:5e:00:01-02:xx.
func isVRRPMAC(mac net.HardwareAddr) bool {
	return len(mac) == 6 && bytes.Equal(mac[:4], []byte{0x00, 0x00, 0x5e, 0x00}) && (mac[4] == 1 || mac[4] == 2)
}

// VMAC is a VRRP instance's virtual MAC interface (Keepalived's use_vmac): a macvlan in private
// mode on Parent whose hardware address is MAC. Private mode keeps the macvlan from talking to
// other macvlans on the same parent, and makes it receive the frames sent from its own address
// by the peer router that holds the same virtual MAC.
type VMAC struct {
	Name   string
	Parent string
	MAC    net.HardwareAddr
	// LinkLocal, if valid, is put on the VMAC (with no duplicate address detection): an IPv6
	// instance sends its adverts from the parent's link-local address, and the kernel sends
	// from a link-local source only through an interface that has it.
	LinkLocal netip.Addr
	// Group is the interface group the VMAC is created in; nil is the parent's, as Keepalived
	// does (firewall rules on groups keep matching).
	Group *uint32
}

// VMACLink is the VMAC interface that EnsureVMAC made or found.
type VMACLink struct {
	Index int
	// Adopted is true when an interface of that name, parent, MAC and mode was already there
	// (left by an earlier run that did not remove it).
	Adopted bool
}

// EnsureVMAC makes the VMAC v exist and be up: it creates it, or adopts a macvlan of that name
// already on v.Parent (fixing its MAC address), or replaces a macvlan of that name on another
// parent or in another mode. An interface of that name that is not a macvlan is left alone and
// reported as an error. The VMAC gets no automatic IPv6 link-local address (RFC 5798 section
// 7.4: it would be derived from the shared virtual MAC and clash with the peer's); v.LinkLocal
// is added instead, if set.
func (h *Host) EnsureVMAC(v VMAC) (VMACLink, error) {
	if len(v.MAC) != 6 {
		return VMACLink{}, fmt.Errorf("netif: vmac %s: MAC address %q: want 6 bytes", v.Name, v.MAC)
	}
	parent, err := h.link(v.Parent)
	if err != nil {
		return VMACLink{}, fmt.Errorf("netif: vmac %s: parent: %w", v.Name, err)
	}
	out := VMACLink{}
	var l netlink.Link
	if old, err := h.h.LinkByName(v.Name); err == nil {
		mv, ok := old.(*netlink.Macvlan)
		switch {
		case !ok:
			return VMACLink{}, fmt.Errorf("netif: vmac %s: an interface of that name exists and is a %s, not a macvlan; not touching it", v.Name, old.Type())
		case mv.ParentIndex != parent.Attrs().Index || mv.Mode != netlink.MACVLAN_MODE_PRIVATE:
			if err := h.h.LinkDel(old); err != nil {
				return VMACLink{}, fmt.Errorf("netif: vmac %s: remove the macvlan on the wrong parent or in the wrong mode: %w", v.Name, err)
			}
		default:
			if !bytes.Equal(mv.HardwareAddr, v.MAC) {
				if err := h.h.LinkSetHardwareAddr(mv, v.MAC); err != nil {
					return VMACLink{}, fmt.Errorf("netif: vmac %s: set MAC %s: %w", v.Name, v.MAC, err)
				}
			}
			if v.Group != nil && mv.Group != *v.Group {
				if err := h.h.LinkSetGroup(mv, int(*v.Group)); err != nil {
					return VMACLink{}, fmt.Errorf("netif: vmac %s: set group %d: %w", v.Name, *v.Group, err)
				}
			}
			l, out.Adopted = mv, true
		}
	} else if !isLinkNotFound(err) {
		return VMACLink{}, fmt.Errorf("netif: vmac %s: look up: %w", v.Name, err)
	}
	if l == nil {
		mv := &netlink.Macvlan{
			LinkAttrs: netlink.LinkAttrs{
				Name: v.Name, ParentIndex: parent.Attrs().Index, HardwareAddr: v.MAC,
				// The parent's group unless one is given, so that firewall rules on groups keep
				// matching (as Keepalived does).
				Group: *cmp.Or(v.Group, &parent.Attrs().Group),
			},
			Mode: netlink.MACVLAN_MODE_PRIVATE,
		}
		if err := h.h.LinkAdd(mv); err != nil {
			return VMACLink{}, fmt.Errorf("netif: vmac %s: create macvlan on %s with MAC %s: %w", v.Name, v.Parent, v.MAC, err)
		}
		if l, err = h.link(v.Name); err != nil {
			return VMACLink{}, fmt.Errorf("netif: vmac %s: after creating it: %w", v.Name, err)
		}
	}
	out.Index = l.Attrs().Index
	// Before the link goes up, or the kernel adds an EUI-64 link-local address at once.
	if err := h.h.LinkSetIP6AddrGenMode(l, in6AddrGenModeNone); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return out, fmt.Errorf("netif: vmac %s: IPv6 address generation off: %w", v.Name, err)
	}
	if err := h.h.LinkSetUp(l); err != nil {
		return out, fmt.Errorf("netif: vmac %s: set up: %w", v.Name, err)
	}
	if v.LinkLocal.IsValid() {
		a := Address{Prefix: netip.PrefixFrom(v.LinkLocal, 64), Link: v.Name, Scope: unix.RT_SCOPE_LINK, NoDAD: true}
		if err := h.AddAddress(a); err != nil {
			return out, fmt.Errorf("netif: vmac %s: %w", v.Name, err)
		}
	}
	return out, nil
}

// in6AddrGenModeNone is the kernel's IN6_ADDR_GEN_MODE_NONE (include/uapi/linux/if_link.h),
// which x/sys/unix does not name.
const in6AddrGenModeNone = 1

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// DeleteVMAC removes the VMAC named name. A missing interface is not an error; an interface of
// that name that is not a macvlan with a VRRP virtual MAC is left alone and reported.
func (h *Host) DeleteVMAC(name string) error {
	l, err := h.h.LinkByName(name)
	if err != nil {
		if isLinkNotFound(err) {
			return nil
		}
		return fmt.Errorf("netif: vmac %s: look up: %w", name, err)
	}
	if _, ok := l.(*netlink.Macvlan); !ok {
		return fmt.Errorf("netif: vmac %s: is a %s, not a macvlan; not removing it", name, l.Type())
	}
	if err := h.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("netif: vmac %s: remove: %w", name, err)
	}
	return nil
}

// VMACsOn lists the macvlans on parent whose address is a VRRP virtual MAC.
func (h *Host) VMACsOn(parent string) ([]string, error) {
	p, err := h.link(parent)
	if err != nil {
		return nil, err
	}
	links, err := h.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netif: list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if mv, ok := l.(*netlink.Macvlan); ok && mv.ParentIndex == p.Attrs().Index && isVRRPMAC(mv.HardwareAddr) {
			out = append(out, mv.Name)
		}
	}
	return out, nil
}

// ParentARP is what SetVMACSysctls found on a VMAC's parent before changing it.
type ParentARP struct {
	Parent                            string
	ArpIgnore, ArpFilter, ArpAnnounce string // "" for the IPv6 case, where nothing was changed
}

// SetVMACSysctls sets the kernel parameters a VMAC needs, as Keepalived does, in the network
// namespace of the calling thread (through /proc/sys, which netlink cannot reach):
//   - on the VMAC: arp_ignore=1 (answer ARP only for its own addresses, not its parent's);
//     and for an IPv4 instance accept_local=1, rp_filter=0 (receive adverts on an interface
//     with no address) and promote_secondaries=1; and, beyond Keepalived, IPv6 accept_ra=0,
//     so that the kernel sends no router solicitation from the virtual MAC when the VMAC gets
//     its link-local address (set it before adding the address);
//   - on the parent, for an IPv4 instance: arp_ignore=1 and arp_filter=1, so that the parent
//     does not answer ARP for the virtual addresses with its own MAC; and, beyond Keepalived,
//     arp_announce=2: a reply from a virtual address to a neighbour not yet in the cache leaves
//     through the parent (its subnet route came first), and the ARP request for the neighbour
//     would otherwise carry the virtual address as sender and teach the neighbour the
//     parent's MAC for it, undoing the VMAC.
//
// It returns the parent's previous values for Restore.
func SetVMACSysctls(vmac, parent string, ipv6 bool) (ParentARP, error) {
	prev := ParentARP{Parent: parent}
	set := [][2]string{{"arp_ignore", "1"}}
	if !ipv6 {
		set = append(set, [2]string{"accept_local", "1"}, [2]string{"rp_filter", "0"}, [2]string{"promote_secondaries", "1"})
	}
	for _, kv := range set {
		if err := writeConf(vmac, kv[0], kv[1]); err != nil {
			return prev, err
		}
	}
	if err := writeConfAt("/proc/sys/net/ipv6/conf", vmac, "accept_ra", "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return prev, err
	}
	if ipv6 {
		return prev, nil
	}
	var err error
	if prev.ArpIgnore, err = readConf(parent, "arp_ignore"); err != nil {
		return prev, err
	}
	if prev.ArpFilter, err = readConf(parent, "arp_filter"); err != nil {
		return prev, err
	}
	if prev.ArpAnnounce, err = readConf(parent, "arp_announce"); err != nil {
		return prev, err
	}
	for _, kv := range [][2]string{{"arp_ignore", "1"}, {"arp_filter", "1"}, {"arp_announce", "2"}} {
		if err := writeConf(parent, kv[0], kv[1]); err != nil {
			return prev, err
		}
	}
	return prev, nil
}

// Restore puts back the parent's arp_ignore, arp_filter and arp_announce, in the calling
// thread's network namespace. A parent that is gone is not an error.
func (p ParentARP) Restore() error {
	for _, kv := range [][2]string{{"arp_ignore", p.ArpIgnore}, {"arp_filter", p.ArpFilter}, {"arp_announce", p.ArpAnnounce}} {
		if kv[1] == "" {
			continue
		}
		if err := writeConf(p.Parent, kv[0], kv[1]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func confPath(link, key string) (string, error) {
	return confPathAt("/proc/sys/net/ipv4/conf", link, key)
}

func confPathAt(dir, link, key string) (string, error) {
	if link == "" || strings.ContainsAny(link, "/") || link == "." || link == ".." {
		return "", fmt.Errorf("netif: interface name %q cannot name a sysctl", link)
	}
	return filepath.Join(dir, link, key), nil
}

func readConf(link, key string) (string, error) {
	p, err := confPath(link, key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("netif: read %s: %w", p, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeConf(link, key, val string) error {
	return writeConfAt("/proc/sys/net/ipv4/conf", link, key, val)
}

func writeConfAt(dir, link, key, val string) error {
	p, err := confPathAt(dir, link, key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
		return fmt.Errorf("netif: set %s to %s: %w", p, val, err)
	}
	return nil
}
