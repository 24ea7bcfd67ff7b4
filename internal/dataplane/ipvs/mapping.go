package ipvs

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"github.com/vigil-lb/vigil/internal/dataplane"
)

// Forwarding is how IPVS sends a connection to a real server: Keepalived's lb_kind.
type Forwarding string

// The forwarding methods (lb_kind values).
const (
	// NAT rewrites the destination to the backend (masquerading); replies must route back
	// through the balancer. The backend's port may differ from the service's.
	NAT Forwarding = "NAT"
	// DR (direct routing) rewrites only the MAC address; the backend must hold the virtual
	// address on a non-ARPing interface and answers the client directly. The backend port is
	// the service's port.
	DR Forwarding = "DR"
	// TUN encapsulates the packet in IPIP to the backend, which answers the client directly.
	// The backend port is the service's port.
	TUN Forwarding = "TUN"
)

func (f Forwarding) kernel() (ipvs.ForwardType, error) {
	switch f {
	case NAT, "":
		return ipvs.Masquerade, nil
	case DR:
		return ipvs.DirectRoute, nil
	case TUN:
		return ipvs.Tunnel, nil
	}
	return 0, fmt.Errorf("forwarding %q unknown, expected NAT, DR or TUN", string(f))
}

// lbKind names a kernel forwarding method by its lb_kind.
func lbKind(t ipvs.ForwardType) Forwarding {
	switch t {
	case ipvs.Masquerade:
		return NAT
	case ipvs.DirectRoute:
		return DR
	case ipvs.Tunnel:
		return TUN
	}
	return Forwarding(t.String())
}

// serviceFlags are the service flags vigil sets and compares; the kernel adds others of its
// own (ServiceHashed) that are no part of the configuration.
const serviceFlags = ipvs.ServicePersistent | ipvs.ServiceOnePacket |
	ipvs.ServiceSchedulerOpt1 | ipvs.ServiceSchedulerOpt2 | ipvs.ServiceSchedulerOpt3

// identity is the part of an IPVS service that names it: family, protocol, address, port; or
// for a fwmark service family and mark only (the kernel ignores the protocol of a fwmark
// service and keys it by family and mark, so Protocol stays 0 and a tcp and a udp service of
// one mark and family are the same service).
func identity(s dataplane.Service) ipvs.Service {
	if s.Fwmark != 0 {
		v := ipvs.Service{FWMark: s.Fwmark, Family: ipvs.INET}
		if s.IPv6() {
			v.Family = ipvs.INET6
		}
		return v
	}
	addr := s.Listen.Addr().Unmap()
	v := ipvs.Service{Address: addr, Port: s.Listen.Port(), Family: ipvs.INET, Protocol: ipvs.TCP}
	if addr.Is6() {
		v.Family = ipvs.INET6
	}
	if s.Protocol == dataplane.UDP {
		v.Protocol = ipvs.UDP
	}
	return v
}

// virtual is the whole IPVS virtual service for s.
func virtual(s dataplane.Service) ipvs.Service {
	v := identity(s)
	v.Scheduler = string(s.Scheduler)
	if v.Scheduler == "" {
		v.Scheduler = string(dataplane.WeightedLeastConnection)
	}
	bits := 32
	if v.Family == ipvs.INET6 {
		bits = 128
	}
	ones := bits
	if s.Persistence > 0 {
		v.Flags |= ipvs.ServicePersistent
		v.Timeout = uint32((s.Persistence + time.Second - 1) / time.Second)
		if g := s.PersistenceGranularity; g > 0 && g < bits {
			ones = g
		}
	}
	// The kernel requires a netmask on every full service message; it only matters with
	// persistence.
	v.Netmask = netmask.MaskFrom(ones, bits)
	if s.HashPort && (s.Scheduler == dataplane.SourceHash || s.Scheduler == dataplane.MaglevHash) {
		// IP_VS_SVC_F_SCHED_SH_PORT and IP_VS_SVC_F_SCHED_MH_PORT are both sched flag 2.
		v.Flags |= ipvs.ServiceSchedulerOpt2
	}
	return v
}

// sameVirtual reports whether the kernel's service k already has the settings of want, so that
// no UpdateService is needed.
func sameVirtual(k, want ipvs.Service) bool { return virtualDiff(k, want) == "" }

// virtualDiff says how the kernel's service k differs from want in the settings vigil sets
// ("" when it does not): scheduler, flags, and with persistence its timeout and netmask (ipvsadm
// and Keepalived leave those at arbitrary values otherwise, and the kernel ignores them).
func virtualDiff(k, want ipvs.Service) string {
	var diffs []string
	if k.Scheduler != want.Scheduler {
		diffs = append(diffs, fmt.Sprintf("scheduler %s, want %s", k.Scheduler, want.Scheduler))
	}
	if k.Flags&serviceFlags != want.Flags&serviceFlags {
		diffs = append(diffs, fmt.Sprintf("flags %#x, want %#x", uint32(k.Flags&serviceFlags), uint32(want.Flags&serviceFlags)))
	}
	if want.Flags&ipvs.ServicePersistent != 0 {
		if k.Timeout != want.Timeout {
			diffs = append(diffs, fmt.Sprintf("persistence timeout %ds, want %ds", k.Timeout, want.Timeout))
		}
		if k.Netmask.Bits() != want.Netmask.Bits() {
			diffs = append(diffs, fmt.Sprintf("persistence netmask /%d, want /%d", k.Netmask.Bits(), want.Netmask.Bits()))
		}
	}
	return strings.Join(diffs, ", ")
}

// sorryActive reports whether the sorry server replaces the backends: no backend has weight > 0.
func sorryActive(s dataplane.Service) bool {
	if s.Sorry == nil {
		return false
	}
	for _, b := range s.Backends {
		if b.Weight > 0 {
			return false
		}
	}
	return true
}

// destinations are the IPVS destinations s wants, in the pool's order: every backend at its
// weight (0 inhibits), or the sorry server alone at weight 1 when no backend has weight > 0.
// With DR and TUN the kernel uses the service's port whatever the backend's, so the
// destinations say so too (else every Apply would see a difference); two backends that then
// collide are an error.
func destinations(s dataplane.Service, fwd ipvs.ForwardType) ([]ipvs.Destination, error) {
	dest := func(b dataplane.Backend, weight int) ipvs.Destination {
		addr := b.Addr.Addr().Unmap()
		port := b.Addr.Port()
		if fwd != ipvs.Masquerade {
			port = s.Listen.Port()
		}
		fam := ipvs.INET
		if addr.Is6() {
			fam = ipvs.INET6
		}
		// uthreshold and lthreshold are the kernel's own: IPVS marks the destination overloaded
		// and its schedulers pass it over.
		return ipvs.Destination{Address: addr, Port: port, Family: fam, FwdMethod: fwd, Weight: uint32(weight),
			UpperThreshold: uint32(b.UThreshold), LowerThreshold: uint32(b.LThreshold)}
	}
	if sorryActive(s) {
		return []ipvs.Destination{dest(*s.Sorry, 1)}, nil
	}
	out := make([]ipvs.Destination, 0, len(s.Backends))
	seen := make(map[netip.AddrPort]netip.AddrPort, len(s.Backends))
	for _, b := range s.Backends {
		d := dest(b, b.Weight)
		k := destKey(d)
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("ipvs: service %s: backends %s and %s are both %s with lb_kind DR or TUN (the service's port is used)", s.Name, first, b.Addr, k)
		}
		seen[k] = b.Addr
		out = append(out, d)
	}
	return out, nil
}

func destKey(d ipvs.Destination) netip.AddrPort {
	return netip.AddrPortFrom(d.Address.Unmap(), d.Port)
}

// serviceKey names an IPVS service in messages: "tcp 192.0.2.1:80", or "fwmark 5 ipv4".
func serviceKey(v ipvs.Service) string {
	if v.FWMark != 0 {
		fam := "ipv4"
		if v.Family == ipvs.INET6 {
			fam = "ipv6"
		}
		return fmt.Sprintf("fwmark %d %s", v.FWMark, fam)
	}
	proto := "tcp"
	if v.Protocol == ipvs.UDP {
		proto = "udp"
	}
	return proto + " " + netip.AddrPortFrom(v.Address, v.Port).String()
}

func sameIdentity(a, b ipvs.Service) bool {
	return a.Address == b.Address && a.Port == b.Port && a.Protocol == b.Protocol && a.Family == b.Family && a.FWMark == b.FWMark
}
