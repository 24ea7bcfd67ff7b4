package vrrpd

import "github.com/vigil-lb/vigil/internal/config/syntax"

// addAddressKeywords installs the keywords of what a master owns: its addresses, routes and rules.
func (b *instanceBuilder) addAddressKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	st := b.st
	kw["no_virtual_ipaddress"] = flag(&b.v.NoVirtualIPAddress)
	kw["virtual_ipaddress"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			a := parseVirtualIP(p, l, nil)
			if a == nil {
				return
			}
			if !b.setFamily(a.Prefix.Addr()) {
				p.Diags.Warnf(l.Pos, "(%s): address family must match VRRP instance [%s] - ignoring", v.Name, l.Words[0])
				return
			}
			v.VirtualIPAddresses = append(v.VirtualIPAddresses, a)
		}
	}}
	kw["virtual_ipaddress_excluded"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if a := parseVirtualIP(p, l, nil); a != nil {
				v.VirtualIPAddressesExcluded = append(v.VirtualIPAddressesExcluded, a)
			}
		}
	}}
	kw["virtual_routes"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if r := parseRoute(p, l, false); r != nil {
				v.VirtualRoutes = append(v.VirtualRoutes, r)
			}
		}
	}}
	kw["virtual_rules"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		return func(p *syntax.Parser, l syntax.Line) {
			if r := st.parseRule(p, l); r != nil {
				v.VirtualRules = append(v.VirtualRules, r)
			}
		}
	}}
}
