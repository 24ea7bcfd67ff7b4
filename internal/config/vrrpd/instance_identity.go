package vrrpd

import "github.com/vigil-lb/vigil/internal/config/syntax"

// addIdentityKeywords installs the keywords of identity: which virtual router this is and how it
// starts (state, interface, VRID, priority, version).
func (b *instanceBuilder) addIdentityKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	name := b.name
	const uintMax = 4294967295
	kw["state"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		switch w {
		case "MASTER":
			v.State = "MASTER"
		case "BACKUP":
			if v.State == "MASTER" {
				p.Diags.Warnf(l.Pos, "%s state previously set as MASTER - ignoring BACKUP", name)
			} else {
				v.State = "BACKUP"
			}
		default:
			p.Diags.Warnf(l.Pos, "%s unknown state '%s', defaulting to BACKUP", name, w)
			v.State = "BACKUP"
		}
		v.set.state = true
	}}
	kw["interface"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		if len(w) >= 16 {
			p.Diags.Warnf(l.Pos, "Interface name '%s' too long - ignoring", w)
			return
		}
		// Whether an interface exists is this host's matter (the VRRP half, and so
		// `vigil -t`, warn of a missing one), but "lo" is the loopback on every Linux
		// host, and Keepalived refuses loopbacks.
		if w == "lo" {
			p.Diags.Warnf(l.Pos, "%s cannot use a loopback interface (%s) for vrrp - ignoring", name, w)
			v.Interface = ""
			return
		}
		v.Interface, v.InterfacePos = w, l.Pos
	}}
	kw["vrf"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if w, ok := p.Need(l, 1); ok {
			v.VRF = w
		}
	}}
	kw["virtual_router_id"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Unsigned(l.Pos, w, 1, 255)
		if !ok {
			p.Diags.Warnf(l.Pos, "(%s): VRID '%s' not valid - must be between 1 & 255", v.Name, w)
			return
		}
		v.VirtualRouterID = int(n)
	}}
	kw["priority"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Unsigned(l.Pos, w, 1, 255)
		if !ok {
			p.Diags.Warnf(l.Pos, "%s Priority not valid! must be between 1 & 255. Using default 100", name)
			n = 100
		}
		v.Priority, v.set.priority = int(n), true
	}}
	kw["version"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Int(l.Pos, w, 2, 3)
		if !ok {
			p.Diags.Warnf(l.Pos, "(%s): Version must be either 2 or 3", v.Name)
			return
		}
		if (v.Version != 0 && v.Version != int(n)) || (n == 2 && v.Family == "inet6") {
			p.Diags.Warnf(l.Pos, "%s vrrp_version %d conflicts with configured or deduced version %d; ignoring.", name, n, v.Version)
			return
		}
		v.Version, v.set.version = int(n), true
	}}
	kw["native_ipv6"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v.Family == "inet" {
			p.Diags.Warnf(l.Pos, "%s Cannot specify native_ipv6 with IPv4 addresses", name)
			return
		}
		v.NativeIPv6, v.Family, v.Version = true, "inet6", 3
	}}
	kw["debug"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Unsigned(l.Pos, w, 0, 4)
		if !ok {
			p.Diags.Warnf(l.Pos, "%s Debug value '%s' not valid; must be between 0-4", name, w)
			return
		}
		v.Debug = int(n)
	}}
	kw["kernel_rx_buf_size"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) == 2 {
			if n, ok := p.Unsigned(l.Pos, l.Words[1], 0, uintMax); ok {
				v.KernelRxBufSize = int(n)
				return
			}
		}
		p.Diags.Warnf(l.Pos, "%s invalid kernel_rx_buf_size specified", name)
	}}
}
