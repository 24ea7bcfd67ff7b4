package vrrpd

import (
	"net/netip"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// addUnicastKeywords installs the keywords of unicast and multicast: the addresses adverts come
// from and go to.
func (b *instanceBuilder) addUnicastKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	name := b.name
	st := b.st
	kw["mcast_src_ip"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		st.srcIP(p, l, v, &v.McastSrcIP, b.setFamily)
	}}
	kw["unicast_src_ip"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		v.set.unicastConfigured = true
		st.srcIP(p, l, v, &v.UnicastSrcIP, b.setFamily)
	}}
	kw["mcast_dst_ip"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		a, ok := unmap(syntax.SockAddr(w))
		if !ok {
			p.Diags.Warnf(l.Pos, "%s malformed mcast dest address %s. Skipping...", name, w)
			return
		}
		if !b.setFamily(a) {
			p.Diags.Warnf(l.Pos, "%s mcast dest address %s MUST match VRRP instance family. Skipping...", name, w)
			return
		}
		if (a.Is4() && !a.IsMulticast()) || (a.Is6() && !a.IsLinkLocalMulticast()) {
			ll := ""
			if a.Is6() {
				ll = " link-local"
			}
			p.Diags.Warnf(l.Pos, "%s mcast_dst_ip %s not%s multicast. Skipping...", name, w, ll)
			return
		}
		v.McastDstIP = a
	}}
	kw["unicast_ttl"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Unsigned(l.Pos, w, 0, 255)
		if !ok {
			p.Diags.Warnf(l.Pos, "(%s): TTL '%s' not valid - must be between 0 & 255", v.Name, w)
			return
		}
		v.UnicastTTL = int(n)
	}}
	kw["unicast_peer"] = syntax.Keyword{Values: func(p *syntax.Parser, l syntax.Line) func(*syntax.Parser, syntax.Line) {
		v.set.unicastConfigured = true
		return func(p *syntax.Parser, l syntax.Line) { st.unicastPeer(p, l, v, b.setFamily) }
	}}
	kw["unicast_fault_no_peer"] = flag(&v.UnicastFaultNoPeer)
	kw["check_unicast_src"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		v.CheckUnicastSrc, v.set.checkUnicastSrc = true, true
	}}
	kw["old_unicast_checksum"] = flag(&v.OldUnicastChecksum)
	kw["track_src_ip"] = flag(&v.TrackSrcIP)
}

func (st *vrrpState) srcIP(p *syntax.Parser, l syntax.Line, v *Instance, dst *netip.Addr, setFamily func(netip.Addr) bool) {
	w, ok := p.Need(l, 1)
	if !ok {
		return
	}
	a, ok := unmap(syntax.SockAddr(w))
	if !ok {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] malformed src address[%s]. Skipping...", v.Name, w)
		return
	}
	if !setFamily(a) {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] and src address[%s] MUST be of the same family !!! Skipping...", v.Name, w)
		return
	}
	*dst = a
}

func (st *vrrpState) unicastPeer(p *syntax.Parser, l syntax.Line, v *Instance, setFamily func(netip.Addr) bool) {
	a, ok := unmap(syntax.SockAddr(l.Words[0]))
	if !ok {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] malformed unicast peer address[%s]. Skipping...", v.Name, l.Words[0])
		return
	}
	if !setFamily(a) {
		p.Diags.Warnf(l.Pos, "Configuration error: VRRP instance[%s] and unicast peer address[%s] MUST be of the same family !!! Skipping...", v.Name, l.Words[0])
		return
	}
	peer := &UnicastPeer{Pos: l.Pos, Addr: a, MinTTL: 0, MaxTTL: 255}
	for i := 1; i < len(l.Words); i += 2 {
		if i+1 >= len(l.Words) {
			p.Diags.Warnf(l.Pos, "(%s) %s is missing a value", v.Name, l.Words[i])
			break
		}
		n, ok := p.Unsigned(l.Pos, l.Words[i+1], 0, 255)
		if !ok {
			continue
		}
		switch l.Words[i] {
		case "min_ttl":
			peer.MinTTL = int(n)
		case "max_ttl":
			peer.MaxTTL = int(n)
		default:
			p.Diags.Warnf(l.Pos, "(%s) unknown unicast_peer option %s", v.Name, l.Words[i])
		}
		if l.Words[i] != "min_ttl" && l.Words[i] != "max_ttl" {
			break
		}
		v.CheckUnicastSrc = true
	}
	if peer.MinTTL > peer.MaxTTL {
		p.Diags.Warnf(l.Pos, "(%s) min_ttl %d > max_ttl %d - all packets will be discarded", v.Name, peer.MinTTL, peer.MaxTTL)
	}
	v.UnicastPeers = append(v.UnicastPeers, peer)
}
