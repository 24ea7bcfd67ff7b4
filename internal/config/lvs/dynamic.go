package lvs

import (
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Defaults of a dynamic_real_servers block.
const (
	DefaultDynamicRefresh = 30 * time.Second
	DefaultDynamicMax     = 64
	DefaultDrainTimeout   = 60 * time.Second
	DefaultEmptyHold      = 30 * time.Second
	maxDynamicMembers     = 4096
)

// DynamicRealServers is a virtual server's dynamic_real_servers block (vigil): its members are
// found in DNS, as Consul's DNS interface and Kubernetes headless Services give them, and each
// is a real server made from Template.
type DynamicRealServers struct {
	Pos syntax.Pos `json:"pos"`
	// SRV is the SRV name asked (dns_srv); or Name is asked for addresses, each with Port
	// (dns_name NAME PORT). Exactly one of SRV and Name is set.
	SRV  string `json:"dns_srv,omitempty"`
	Name string `json:"dns_name,omitempty"`
	Port uint16 `json:"port,omitempty"`
	// Resolver is the DNS server asked (resolver ADDR [PORT], port 53 by default); the zero
	// value means the first nameserver of /etc/resolv.conf.
	Resolver netip.AddrPort `json:"resolver,omitzero"`
	// Refresh is the longest time between two lookups (default 30 s); a shorter TTL in the
	// answer asks sooner, at most once a second.
	Refresh syntax.Duration `json:"refresh"`
	// Max caps the members taken from an answer (default 64): the first by address.
	Max uint32 `json:"max"`
	// DrainTimeout bounds how long a member gone from DNS drains before it is removed while it
	// still has connections (default 60 s).
	DrainTimeout syntax.Duration `json:"drain_timeout"`
	// EmptyHold is how long DNS must name nobody (NXDOMAIN, or no records) before the members
	// there are are believed gone (default 30 s, HAProxy's hold nx; 0: at once). A resolver
	// that lost its zone for a moment, or a Consul agent that restarts, says so too.
	EmptyHold syntax.Duration `json:"empty_hold"`
	// Template is what every member is: the block's weight, checkers and real_server keywords,
	// with no address (Member gives one member's).
	Template *RealServer `json:"template"`
}

// Member returns the real server that a member found at addr is: the template with addr's
// address and port, and its checkers pointed at addr where the block set no connect_ip or
// connect_port of its own.
func (d *DynamicRealServers) Member(addr netip.AddrPort) *RealServer {
	rs := *d.Template
	rs.Address, rs.Port = addr.Addr(), addr.Port()
	rs.Checkers = make([]*Checker, len(d.Template.Checkers))
	for i, c := range d.Template.Checkers {
		cc := *c
		if c.Connection != nil {
			conn := *c.Connection
			if !conn.Address.IsValid() {
				conn.Address = addr.Addr()
			}
			if conn.Port == 0 {
				conn.Port = addr.Port()
			}
			cc.Connection = &conn
		}
		rs.Checkers[i] = &cc
	}
	return &rs
}

// dynamicKeyword reads "dynamic_real_servers { ... }": the DNS keywords, and every keyword of a
// real_server (weight, the checkers, rise...) for the template.
func (vs *VirtualServer) dynamicKeyword(p *syntax.Parser, l syntax.Line, s *Section) *syntax.Table {
	if vs.Dynamic != nil {
		p.Diags.Errorf(l.Pos, "dynamic_real_servers: a virtual server takes one block, the first is at line %d", vs.Dynamic.Pos.Line)
		return nil
	}
	tmpl := &RealServer{Pos: l.Pos, Forwarding: vs.Forwarding, fwdSet: vs.fwdSet, Checkers: []*Checker{}}
	d := &DynamicRealServers{Pos: l.Pos, Refresh: syntax.Duration(DefaultDynamicRefresh), Max: DefaultDynamicMax,
		DrainTimeout: syntax.Duration(DefaultDrainTimeout), EmptyHold: syntax.Duration(DefaultEmptyHold), Template: tmpl}
	t := tmpl.table(vs, s)
	k := t.Keywords
	for _, name := range []string{"notify_up", "notify_down"} {
		// A script run for a member would not know which member it was run for.
		delete(k, name)
	}
	named := false // a dns_srv or dns_name line was written, valid or not
	k["dns_srv"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		named = true
		if name, ok := p.Need(l, 1); ok {
			d.SRV = name
		}
	}}
	k["dns_name"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		named = true
		name, ok := p.Need(l, 1)
		if !ok {
			return
		}
		port, ok := p.Need(l, 2)
		if !ok {
			return
		}
		v, ok := p.Unsigned(l.Pos, port, 1, 65535)
		if !ok {
			p.Diags.Errorf(l.Pos, "dns_name %s: port '%s' invalid, expected 1 to 65535", name, port)
			return
		}
		d.Name, d.Port = name, uint16(v)
	}}
	k["resolver"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if _, ok := p.Need(l, 1); !ok {
			return
		}
		port := "53"
		if len(l.Words) > 2 {
			port = l.Words[2]
		}
		a, pn, ok := p.AddrPort(l.Pos, l.Words[1], port)
		if !ok {
			p.Diags.Errorf(l.Pos, "resolver %s: an IP address and an optional port expected", strings.Join(l.Words[1:], " "))
			return
		}
		d.Resolver = netip.AddrPortFrom(a, pn)
	}}
	k["refresh"] = lvsExtTimer("refresh", uint64(time.Second/time.Microsecond), func(v syntax.Duration) { d.Refresh = v })
	k["max"] = lvsExtUint("max", 1, maxDynamicMembers, func(v uint32) { d.Max = v })
	k["drain_timeout"] = lvsExtTimer("drain_timeout", 0, func(v syntax.Duration) { d.DrainTimeout = v })
	k["empty_hold"] = lvsExtTimer("empty_hold", 0, func(v syntax.Duration) { d.EmptyHold = v })
	t.Close = func(p *syntax.Parser, end syntax.Pos) {
		switch {
		case d.SRV == "" && d.Name == "" && named:
			return // the line that names it was refused, at its line
		case d.SRV == "" && d.Name == "":
			p.Diags.Errorf(end, "dynamic_real_servers: dns_srv NAME or dns_name NAME PORT expected")
			return
		case d.SRV != "" && d.Name != "":
			p.Diags.Errorf(end, "dynamic_real_servers: dns_srv and dns_name both given, expected one of them")
			return
		}
		vs.Dynamic = d
	}
	return t
}
