package vrrpd

import (
	"net"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// addVMACKeywords installs the keywords of VMAC and ipvlan: the interface a master sends from.
func (b *instanceBuilder) addVMACKeywords(kw map[string]syntax.Keyword) {
	v := b.v
	// use_vmac [[name] NAME] [MAC] [netlink_notify_msg] [group GROUP], as Keepalived 2.4 reads it:
	// a word with a ':' is the MAC, "group" takes the next word, "name" makes the next word the
	// name even if it is an option's ("use_vmac name group").
	kw["use_vmac"] = syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		v.UseVMAC = true
		w := l.Words
		for i := 1; i < len(w); i++ {
			switch {
			case strings.Contains(w[i], ":"):
				if v.VMACMAC != "" {
					p.Diags.Warnf(l.Pos, "VMAC interface address already specified")
					continue
				}
				if mac, ok := vmacMAC(w[i]); !ok {
					p.Diags.Warnf(l.Pos, "VMAC invalid MAC address %s - ignored", w[i])
				} else if mac[0]&1 != 0 {
					p.Diags.Warnf(l.Pos, "VMAC MAC address is multicast %s - ignoring", w[i])
				} else {
					v.VMACMAC = w[i]
				}
				continue
			case w[i] == "netlink_notify_msg":
				p.WarnUnsupported(syntax.Line{Pos: l.Pos, Words: []string{"use_vmac netlink_notify_msg"}},
					"vigil hears its VMACs from netlink; no other listener is nudged")
				continue
			case w[i] == "group":
				i++
				g := ""
				if i < len(w) {
					g = w[i]
				}
				n, err := strconv.ParseUint(g, 0, 32)
				if g == "default" {
					n, err = 0, nil
				}
				if err != nil {
					// vigil reads group numbers, not names from /etc/iproute2/group.
					p.Diags.Warnf(l.Pos, "VMAC group %s not found", g)
					continue
				}
				v.VMACGroup = new(uint32(n))
				continue
			case w[i] == "name":
				i++
				if i >= len(w) {
					continue
				}
			}
			if v.VMACName != "" {
				p.Diags.Warnf(l.Pos, "VMAC interface name already specified")
				continue
			}
			if len(w[i]) >= 16 || strings.ContainsAny(w[i], "/ ") {
				p.Diags.Warnf(l.Pos, "VMAC interface name '%s' too long or invalid characters - ignoring", w[i])
				continue
			}
			v.VMACName = w[i]
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

// vmacMAC reads use_vmac's MAC address: six octets, or five, the VRID then being the sixth.
func vmacMAC(s string) (net.HardwareAddr, bool) {
	parts := strings.Split(strings.TrimSuffix(s, ":"), ":")
	if len(parts) != 5 && len(parts) != 6 {
		return nil, false
	}
	mac := make(net.HardwareAddr, 6)
	for i, p := range parts {
		b, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) == 0 || len(p) > 2 {
			return nil, false
		}
		mac[i] = byte(b)
	}
	return mac, true
}

// VMACHardwareAddr is the MAC address use_vmac gives the VMAC, the VRID filling a sixth octet
// left out; nil when use_vmac names none.
func (v *Instance) VMACHardwareAddr() net.HardwareAddr {
	if v.VMACMAC == "" {
		return nil
	}
	mac, ok := vmacMAC(v.VMACMAC)
	if !ok {
		return nil
	}
	if len(strings.Split(strings.TrimSuffix(v.VMACMAC, ":"), ":")) == 5 {
		mac[5] = byte(v.VirtualRouterID)
	}
	return mac
}
