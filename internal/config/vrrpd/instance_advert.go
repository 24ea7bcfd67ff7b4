package vrrpd

import "github.com/vigil-lb/vigil/internal/config/syntax"

// addAdvertKeywords installs the keywords of adverts and preemption: their interval, who preempts,
// strict mode and what lower or higher priorities do.
func (b *instanceBuilder) addAdvertKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	name := b.name
	kw["advert_int"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Decimal(l.Pos, w, 10000, 255*1e6)
		if !ok || n == 0 {
			p.Diags.Warnf(l.Pos, "%s Advert interval (%s) not valid! Must be > 0 - ignoring", name, w)
			return
		}
		v.AdvertInt = syntax.Micros(n)
	}}
	kw["accept"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { v.Accept = new(true) }}
	kw["no_accept"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { v.Accept = new(false) }}
	kw["skip_check_adv_addr"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		b, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "%s invalid skip_check_adv_addr %s specified", name, w) })
		if ok {
			// Like Keepalived, "skip_check_adv_addr false" still sets it.
			_ = b
			v.SkipCheckAdvAddr, v.set.skipCheckAdv = true, true
		}
	}}
	kw["strict_mode"] = b.tfOpt(&v.StrictMode, &v.set.strict, "strict_mode")
	kw["v3_checksum_as_v2"] = b.tfOpt(&v.V3ChecksumAsV2, &v.set.v3ChecksumAsV2, "v3_checksum_as_v2")
	kw["owner_ignore_adverts"] = b.tfOpt(&v.OwnerIgnoreAdverts, &v.set.ownerIgnoreAdverts, "owner_ignore_adverts")
	kw["preempt"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { v.Nopreempt = false }}
	kw["nopreempt"] = flag(&v.Nopreempt)
	kw["preempt_delay"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Decimal(l.Pos, w, 0, 1000*1e6)
		if !ok {
			p.Diags.Warnf(l.Pos, "%s Preempt_delay not valid! must be between 0-%d", name, 1000)
			v.PreemptDelay = 0
			return
		}
		v.PreemptDelay = syntax.Micros(n)
	}}
	kw["lower_prio_no_advert"] = b.tfOpt(&v.LowerPrioNoAdvert, &v.set.lowerPrioNoAdvert, "lower_prio_no_advert")
	kw["higher_prio_send_advert"] = b.tfOpt(&v.HigherPrioSendAdvert, &v.set.higherPrioSendAdvert, "higher_prio_send_advert")
	kw["down_timer_adverts"] = b.garpUint(1, 100, "(%s): Invalid down_timer_adverts [1:100] '%s'", "",
		func(n uint64) { v.DownTimerAdverts, v.set.downTimer = int(n), true })
}
