package nftables

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// tcpEstablished is TCP_CONNTRACK_ESTABLISHED.
const tcpEstablished = 3

// openConntrack opens a netfilter netlink handle in the namespace at path ("" for the
// caller's), for reading and deleting conntrack entries.
func openConntrack(path string) (*netlink.Handle, error) {
	if path == "" {
		return netlink.NewHandle(unix.NETLINK_NETFILTER)
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns, unix.NETLINK_NETFILTER)
}

// flowTo matches the conntrack entries of connections from clients to a service's listen
// address that were translated to one of the backends.
type flowTo struct {
	proto    uint8
	listen   netip.AddrPort
	backends []netip.AddrPort
}

func addrPortOf(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}

// backendOf returns the backend a flow of the service went to, if it is one.
func (f flowTo) backendOf(flow *netlink.ConntrackFlow) (netip.AddrPort, bool) {
	if flow.Forward.Protocol != f.proto || addrPortOf(flow.Forward.DstIP, flow.Forward.DstPort) != f.listen {
		return netip.AddrPort{}, false
	}
	return addrPortOf(flow.Reverse.SrcIP, flow.Reverse.SrcPort), true
}

// MatchConntrackFlow implements netlink.CustomConntrackFilter.
func (f flowTo) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	b, ok := f.backendOf(flow)
	return ok && slices.Contains(f.backends, b)
}

func inetFamily(listen netip.AddrPort) netlink.InetFamily {
	if listen.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// shutdownSessions deletes the conntrack entries of svc's connections to backends. The next
// packet of such a connection is then new to conntrack: the nat chains balance it to a backend
// still in the set, which does not know the connection and answers with a reset; a packet from
// the old backend reaches the balancer's own stack, which resets the backend's side.
func (d *Dataplane) shutdownSessions(svc dataplane.Service, backends []netip.AddrPort) {
	if len(backends) == 0 {
		return
	}
	f := flowTo{proto: protoNumber(svc.Protocol), listen: svc.Listen, backends: backends}
	n, err := d.ct.ConntrackDeleteFilters(netlink.ConntrackTable, inetFamily(svc.Listen), f)
	if err != nil {
		d.log.Warn("nftables: shutdown sessions: delete conntrack entries", "vs", svc.Name, "backends", backends, "err", err)
		return
	}
	d.log.Info("nftables: shutdown sessions", "vs", svc.Name, "backends", backends, "connections", n)
}

// activeFlows counts, for each service, the established connections (any flow, for UDP) in
// conntrack by the backend they were translated to. It dumps the conntrack table once per
// address family in use.
func (d *Dataplane) activeFlows() map[string]map[netip.AddrPort]int64 {
	out := map[string]map[netip.AddrPort]int64{}
	byFamily := map[netlink.InetFamily][]*service{}
	for _, s := range d.services {
		byFamily[inetFamily(s.svc.Listen)] = append(byFamily[inetFamily(s.svc.Listen)], s)
	}
	for fam, services := range byFamily {
		flows, err := d.ct.ConntrackTableList(netlink.ConntrackTable, fam)
		if err != nil {
			d.log.Warn("nftables stats: list conntrack", "family", fam, "err", err)
			continue
		}
		for _, flow := range flows {
			if tcp, ok := flow.ProtoInfo.(*netlink.ProtoInfoTCP); ok && tcp.State != tcpEstablished {
				continue
			}
			for _, s := range services {
				f := flowTo{proto: protoNumber(s.svc.Protocol), listen: s.svc.Listen}
				if b, ok := f.backendOf(flow); ok {
					if out[s.svc.Name] == nil {
						out[s.svc.Name] = map[netip.AddrPort]int64{}
					}
					out[s.svc.Name][b]++
				}
			}
		}
	}
	return out
}
