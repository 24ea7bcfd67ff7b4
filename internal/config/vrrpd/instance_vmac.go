package vrrpd

import "github.com/vigil-lb/vigil/internal/config/syntax"

// addVMACKeywords installs the keywords of VMAC and ipvlan: the interface a master sends from.
func (b *instanceBuilder) addVMACKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	kw["use_vmac"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		v.UseVMAC = true
		if len(l.Words) >= 2 {
			if len(l.Words[1]) >= 16 {
				p.Diags.Warnf(l.Pos, "VMAC interface name '%s' too long or invalid characters - ignoring", l.Words[1])
			} else {
				v.VMACName = l.Words[1]
			}
		}
	}}
	kw["use_vmac_addr"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if len(l.Words) >= 2 {
			v.VMACAddr = l.Words[1]
		}
	}}
	kw["vmac_xmit_base"] = flag(&v.VMACXmitBase)
	kw["use_ipvlan"] = flag(&v.UseIPVLAN)
	kw["promote_secondaries"] = flag(&v.PromoteSecondaries)
}
