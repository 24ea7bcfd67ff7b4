package vrrpd

import "github.com/vigil-lb/vigil/internal/config/syntax"

// addGARPKeywords installs the keywords of gratuitous ARP and unsolicited NA after a change of
// master.
func (b *instanceBuilder) addGARPKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	st := b.st
	const uintMax = 4294967295
	kw["garp_master_delay"] = b.garpUint(0, uintMax/1000000, "(%s): garp_master_delay '%s' invalid - ignoring", "",
		func(n uint64) { v.GarpMasterDelay, v.set.garpDelay = syntax.Seconds(n), true })
	kw["garp_master_refresh"] = b.garpUint(0, uintMax, "(%s): Invalid garp_master_refresh '%s' - ignoring", "",
		func(n uint64) { v.GarpMasterRefresh, v.set.garpRefresh = syntax.Seconds(n), true })
	kw["garp_master_repeat"] = b.garpUint(0, uintMax, "(%s): garp_master_repeat '%s' invalid - ignoring",
		"(%s): garp_master_repeat must be greater than 0, setting to 1",
		func(n uint64) { v.GarpMasterRepeat, v.set.garpRepeat = int(n), true })
	kw["garp_master_refresh_repeat"] = b.garpUint(0, uintMax, "(%s): garp_master_refresh_repeat '%s' invalid - ignoring",
		"(%s): garp_master_refresh_repeat must be greater than 0, setting to 1",
		func(n uint64) { v.GarpMasterRefreshRepeat, v.set.garpRefreshRepeat = int(n), true })
	kw["garp_lower_prio_delay"] = b.garpUint(0, uintMax/1000000, "(%s): garp_lower_prio_delay '%s' invalid - ignoring", "",
		func(n uint64) { v.GarpLowerPrioDelay, v.set.lowerPrioDelay = syntax.Seconds(n), true })
	kw["garp_lower_prio_repeat"] = b.garpUint(0, 2147483647, "(%s): Invalid garp_lower_prio_repeat '%s'", "",
		func(n uint64) { v.GarpLowerPrioRepeat, v.set.lowerPrioRepeat = int(n), true })
	kw["garp_extra_if"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { st.garpExtraIf(p, l, v) }}
	kw["vmac_garp_intvl"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { st.garpExtraIf(p, l, v) }}
}

func (st *vrrpState) garpExtraIf(p *syntax.Parser, l syntax.Line, v *Instance) {
	cmd := l.Words[0]
	if cmd == "vmac_garp_intvl" {
		p.Diags.Warnf(l.Pos, "Keyword \"vmac_garp_intvl\" is deprecated - please use \"garp_extra_if\"")
	}
	var delay uint64
	for _, w := range l.Words[1:] {
		if w == "all" {
			continue
		}
		n, ok := p.Unsigned(l.Pos, w, 1, 86400)
		if !ok {
			p.Diags.Warnf(l.Pos, "(%s): %s '%s' invalid - ignoring", v.Name, cmd, w)
			return
		}
		delay = n
	}
	if delay == 0 {
		p.Diags.Warnf(l.Pos, "(%s): %s specified without time - ignoring", v.Name, cmd)
		return
	}
	v.GarpExtraIf = syntax.Seconds(delay)
}
