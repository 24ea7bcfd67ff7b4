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
// address that were translated to one of the backends. For a fwmark service (no listen
// address) the original destination can be anything: a flow matches when it was translated to
// one of backends (so a backend shared with another service counts for both).
type flowTo struct {
	proto    uint8
	listen   netip.AddrPort
	backends []netip.AddrPort
}

func flowsOf(svc dataplane.Service, backends []netip.AddrPort) flowTo {
	return flowTo{proto: protoNumber(svc.Protocol), listen: svc.Listen, backends: backends}
}

func addrPortOf(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}

// backendOf returns the backend a flow of the service went to, if it is one.
func (f flowTo) backendOf(flow *netlink.ConntrackFlow) (netip.AddrPort, bool) {
	if flow.Forward.Protocol != f.proto {
		return netip.AddrPort{}, false
	}
	dst, backend := addrPortOf(flow.Forward.DstIP, flow.Forward.DstPort), addrPortOf(flow.Reverse.SrcIP, flow.Reverse.SrcPort)
	if !f.listen.IsValid() {
		return backend, dst != backend && slices.Contains(f.backends, backend)
	}
	return backend, dst == f.listen
}

// MatchConntrackFlow implements netlink.CustomConntrackFilter.
func (f flowTo) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	b, ok := f.backendOf(flow)
	return ok && slices.Contains(f.backends, b)
}

func inetFamily(svc dataplane.Service) netlink.InetFamily {
	if svc.IPv6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// shutdownSessions deletes the conntrack entries of svc's connections to backends. The next
// packet of such a connection is then new to conntrack: the nat chains balance it to a backend
// still in the set, which does not know the connection and answers with a reset; a packet from
// the old backend reaches the balancer's own stack, which resets the backend's side.
func (d *Dataplane) shutdownSessions(svc dataplane.Service, backends []netip.AddrPort) {
	if len(backends) == 0 {
		return
	}
	n, err := d.ct.ConntrackDeleteFilters(netlink.ConntrackTable, inetFamily(svc), flowsOf(svc, backends))
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
		byFamily[inetFamily(s.svc)] = append(byFamily[inetFamily(s.svc)], s)
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
				if b, ok := flowsOf(s.svc, s.counted).backendOf(flow); ok {
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
