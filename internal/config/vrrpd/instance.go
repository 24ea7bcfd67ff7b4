package vrrpd

import (
	"net/netip"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// instanceBuilder builds the table of one vrrp_instance, a topic at a time (instance_*.go):
// the keywords of each topic share what it holds.
type instanceBuilder struct {
	st *vrrpState
	v  *Instance
	// name is the instance as Keepalived names it at the start of its messages: "(VI_1)".
	name string
}

// instanceTable is the body of vrrp_instance.
func (st *vrrpState) instanceTable(v *Instance) *syntax.Table {
	b := &instanceBuilder{st: st, v: v, name: "(" + v.Name + ")"}
	kw := map[string]syntax.Keyword{}
	b.addIdentityKeywords(kw)
	b.addAdvertKeywords(kw)
	b.addUnicastKeywords(kw)
	b.addVMACKeywords(kw)
	b.addAddressKeywords(kw)
	b.addTrackingKeywords(kw)
	b.addNotifyKeywords(kw)
	b.addGARPKeywords(kw)
	b.addAuthKeywords(kw)
	b.addAuthHMACKeywords(kw)
	kw["track_virtual_server"] = trackVirtualServerKeyword(&v.TrackVirtualServers, func() string { return v.Name })
	for k, why := range instanceUnsupported {
		kw[k] = syntax.Unsupported(kw[k], why)
	}
	return &syntax.Table{Keywords: kw, Close: func(p *syntax.Parser, end syntax.Pos) {
		// Keepalived's end-of-instance checks report at the closing brace.
		if v.set.unicastConfigured && (v.UseVMAC || v.UseIPVLAN) {
			if v.Interface == "" {
				p.Diags.Warnf(end, "(%s): Cannot use VMAC/ipvlan with unicast and no interface - clearing use_vmac", v.Name)
				v.UseVMAC, v.UseIPVLAN, v.VMACName = false, false, ""
			} else if !v.VMACXmitBase {
				p.Diags.Warnf(end, "%s unicast with use_vmac requires vmac_xmit_base - setting", b.name)
				v.VMACXmitBase = true
			}
		}
		if len(v.UnicastPeers) == 0 && v.UnicastTTL != -1 {
			p.Diags.Warnf(end, "(%s): Cannot use unicast_ttl without unicast peers - resetting", v.Name)
			v.UnicastTTL = 0
		}
	}}
}

// instanceUnsupported are the vrrp_instance keywords vigil reads (dump-config shows them) but
// does not do, with why; each is refused at its line. debug is not among them: Keepalived
// documents it as not implemented, so vigil ignoring it is Keepalived's behaviour.
var instanceUnsupported = map[string]string{
	"use_ipvlan":           "vigil makes VMACs (use_vmac), not ipvlan interfaces",
	"vrf":                  "vigil does not bind VRRP to a VRF",
	"old_unicast_checksum": "vigil computes VRRPv3 unicast checksums as RFC 5798 does (Keepalived 2.2.4 and later)",
	"linkbeat_use_polling": "vigil hears link changes from netlink",
	"kernel_rx_buf_size":   "vigil sizes its own socket buffers",
	"track_bfd":            whyBFD,
	"timer_expired_backup": "vigil's timers are not delayed by a busy single-threaded loop",
	"thread_timer_expired": "vigil's timers are not delayed by a busy single-threaded loop",
}

// pfx returns the instance's name for messages, for notifyKeyword.
func (b *instanceBuilder) pfx() string { return b.name }

// setFamily records the family of an address of the instance, the first one setting it; false
// when a has the other family.
func (b *instanceBuilder) setFamily(a netip.Addr) bool {
	f := "inet"
	if a.Is6() {
		f = "inet6"
	}
	if b.v.Family == "" {
		b.v.Family = f
		return true
	}
	return b.v.Family == f
}

// flag is a keyword that takes no argument and sets *dst.
func flag(dst *bool) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) { *dst = true }}
}

// tfOpt is a keyword with an optional true/false word, setting *dst (and *set, when not nil).
func (b *instanceBuilder) tfOpt(dst *bool, set *bool, what string) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		v, ok := syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "%s invalid %s %s specified", b.name, what, w) })
		if ok {
			*dst = v
			if set != nil {
				*set = true
			}
		}
	}}
}

// garpUint is a keyword taking an unsigned number in [lo, hi]; bad is the keyword's complaint
// about a bad number, zero (when not "") its complaint about 0, which then reads as 1.
func (b *instanceBuilder) garpUint(lo, hi uint64, bad, zero string, set func(uint64)) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		w, ok := p.Need(l, 1)
		if !ok {
			return
		}
		n, ok := p.Unsigned(l.Pos, w, lo, hi)
		if !ok {
			p.Diags.Warnf(l.Pos, bad, b.v.Name, w)
			return
		}
		if n == 0 && zero != "" {
			p.Diags.Warnf(l.Pos, zero, b.v.Name)
			n = 1
		}
		set(n)
	}}
}
