package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
	"github.com/vigil-lb/vigil/internal/config/vrrpd"
	"github.com/vigil-lb/vigil/internal/netif"
	"golang.org/x/sys/unix"
)

// addRules resolves the instance's virtual_rules; a master installs them after its routes and
// removes them before its routes, as Keepalived does.
func (s *spec) addRules(v *vrrpd.Instance) error {
	for _, r := range v.VirtualRules {
		nr, err := toRule(r, false)
		if err != nil {
			return syntax.ErrorAt(r.Pos, "vrrp %s: virtual_rules: %w", v.Name, err)
		}
		s.rules = append(s.rules, nr)
		if !r.NoTrack {
			s.held.rules = append(s.held.rules, nr)
		}
	}
	return nil
}

func (in *instance) installRules(rules []netif.Rule) {
	for _, r := range rules {
		if err := in.host.AddRule(r); err != nil {
			in.log.Error("virtual rule not added", "rule", r.String(), "error", err)
		}
	}
}

func (in *instance) uninstallRules(rules []netif.Rule) {
	for _, r := range rules {
		if err := in.host.DeleteRule(r); err != nil {
			in.log.Error("virtual rule not removed", "rule", r.String(), "error", err)
		}
	}
}

// swapRules moves a master's rules from old's to ns's: the ones in both stay, the others are
// removed or added.
func (in *instance) swapRules(old, ns *spec) {
	var gone []netif.Rule
	for _, r := range old.rules {
		if !slices.Contains(ns.rules, r) {
			gone = append(gone, r)
		}
	}
	in.uninstallRules(gone)
	in.installRules(ns.rules)
}

// ruleTypes are the rule actions named by iproute2 route types.
var ruleTypes = map[string]uint8{
	"blackhole": unix.FR_ACT_BLACKHOLE, "unreachable": unix.FR_ACT_UNREACHABLE,
	"prohibit": unix.FR_ACT_PROHIBIT, "nop": unix.FR_ACT_NOP,
}

// ipProtocols are the ipproto names vigil reads; numbers work too.
var ipProtocols = map[string]uint8{
	"icmp": unix.IPPROTO_ICMP, "igmp": unix.IPPROTO_IGMP, "tcp": unix.IPPROTO_TCP,
	"udp": unix.IPPROTO_UDP, "gre": unix.IPPROTO_GRE, "esp": unix.IPPROTO_ESP,
	"ah": unix.IPPROTO_AH, "ipv6-icmp": unix.IPPROTO_ICMPV6, "icmpv6": unix.IPPROTO_ICMPV6,
	"sctp": unix.IPPROTO_SCTP, "udplite": unix.IPPROTO_UDPLITE,
}

// toRule turns a virtual_rules (or, with static, static_rules) line into the rule to install.
// It reads the words as Keepalived does; selectors vigil cannot install (l3mdev, tunnel-id)
// and unknown words are refused rather than dropped, as is a rule with no action or with two.
func toRule(r *vrrpd.VirtualRule, static bool) (netif.Rule, error) {
	var out netif.Rule
	w := r.Words
	arg := func(i int) (string, error) {
		if i+1 >= len(w) {
			return "", fmt.Errorf("%s needs a value", w[i])
		}
		return w[i+1], nil
	}
	setAction := func(a uint8) error {
		if out.Action != 0 {
			return fmt.Errorf("more than one of table, goto, nop, blackhole, unreachable and prohibit")
		}
		out.Action = a
		return nil
	}
	family := 0
	setFamily := func(f int) error {
		if family != 0 && family != f {
			return fmt.Errorf("rule mixes IPv4 and IPv6")
		}
		family = f
		return nil
	}
	for i := 0; i < len(w); i++ {
		word := w[i]
		var val string
		var err error
		switch word {
		case "inet", "inet6", "not", "no_track", "nop", "blackhole", "unreachable", "prohibit", "l3mdev":
		default:
			if val, err = arg(i); err != nil {
				return out, err
			}
			i++
		}
		switch word {
		case "inet":
			err = setFamily(unix.AF_INET)
		case "inet6":
			err = setFamily(unix.AF_INET6)
		case "from", "to":
			var p netip.Prefix
			if p, err = rulePrefix(val); err != nil {
				return out, fmt.Errorf("%s %s: %w", word, val, err)
			}
			if !p.IsValid() {
				break
			}
			f := unix.AF_INET
			if p.Addr().Is6() {
				f = unix.AF_INET6
			}
			err = setFamily(f)
			if word == "from" {
				out.From = p
			} else {
				out.To = p
			}
		case "table", "lookup":
			if val == "" || val == "0" {
				return out, fmt.Errorf("table %q: want main, local, default or a number other than 0", val)
			}
			if out.Table, err = netif.ParseTable(val); err != nil {
				return out, err
			}
			err = setAction(unix.FR_ACT_TO_TBL)
		case "not":
			out.Invert = true
		case "preference", "order", "priority", "pref":
			var n uint64
			if n, err = strconv.ParseUint(val, 0, 32); err != nil {
				return out, fmt.Errorf("preference %q: want 0 to 4294967295", val)
			}
			out.Priority, out.HasPriority = uint32(n), true
		case "tos", "dsfield":
			var n uint64
			if n, err = strconv.ParseUint(val, 0, 8); err != nil {
				return out, fmt.Errorf("tos %q: want a number from 0 to 255", val)
			}
			out.TOS = uint8(n)
		case "fwmark":
			mark, mask, hasMask := strings.Cut(val, "/")
			var n uint64
			if n, err = strconv.ParseUint(mark, 0, 32); err != nil {
				return out, fmt.Errorf("fwmark %q: want MARK or MARK/MASK", val)
			}
			out.Mark, out.HasMark = uint32(n), true
			if hasMask {
				if n, err = strconv.ParseUint(mask, 0, 32); err != nil {
					return out, fmt.Errorf("fwmark %q: want MARK or MARK/MASK", val)
				}
				out.Mask, out.HasMask = uint32(n), true
			}
		case "realms":
			if out.Realms, err = parseRealms(val); err != nil {
				return out, err
			}
			err = setFamily(unix.AF_INET)
		case "suppress_prefixlength", "sup_pl":
			var n uint64
			if n, err = strconv.ParseUint(val, 10, 31); err != nil {
				return out, fmt.Errorf("suppress_prefixlength %q: want a number", val)
			}
			out.SuppressPrefixlen, out.HasSuppressPrefixlen = int(n), true
		case "suppress_ifgroup", "sup_group":
			var n uint64
			if n, err = strconv.ParseUint(val, 0, 31); err != nil {
				return out, fmt.Errorf("suppress_ifgroup %q: want a group number (names are not read)", val)
			}
			out.SuppressIfgroup, out.HasSuppressIfgroup = int(n), true
		case "dev", "iif":
			out.IIF = val
		case "oif":
			out.OIF = val
		case "uidrange":
			a, b, ok := strings.Cut(val, "-")
			lo, err1 := strconv.ParseUint(a, 10, 32)
			hi, err2 := strconv.ParseUint(b, 10, 32)
			if !ok || err1 != nil || err2 != nil || lo > hi {
				return out, fmt.Errorf("uidrange %q: want FIRST-LAST", val)
			}
			out.UIDRange, out.HasUIDRange = [2]uint32{uint32(lo), uint32(hi)}, true
		case "protocol":
			var n uint64
			if n, err = strconv.ParseUint(val, 10, 8); err != nil {
				return out, fmt.Errorf("protocol %q: want a number from 0 to 255", val)
			}
			out.Protocol = uint8(n)
		case "ipproto":
			p, ok := ipProtocols[strings.ToLower(val)]
			if !ok {
				n, err := strconv.ParseUint(val, 10, 8)
				if err != nil {
					return out, fmt.Errorf("ipproto %q: want tcp, udp, icmp, ipv6-icmp, sctp... or a number", val)
				}
				p = uint8(n)
			}
			out.IPProto = p
		case "sport", "dport":
			pr, err := parsePortRange(val)
			if err != nil {
				return out, fmt.Errorf("%s: %w", word, err)
			}
			if word == "sport" {
				out.Sport = pr
			} else {
				out.Dport = pr
			}
		case "no_track":
			// vrrpd.VirtualRule.NoTrack has it: a master does not put the rule back
			// (reconcile.go).
		case "track_group":
			if !static {
				return out, fmt.Errorf("track_group is only for static_rules")
			}
		case "goto":
			var n uint64
			if n, err = strconv.ParseUint(val, 10, 32); err != nil {
				return out, fmt.Errorf("goto %q: want a preference", val)
			}
			out.Goto = uint32(n)
			err = setAction(unix.FR_ACT_GOTO)
		case "type":
			a, ok := ruleTypes[val]
			if !ok {
				return out, fmt.Errorf("type %q: want blackhole, unreachable, prohibit or nop", val)
			}
			err = setAction(a)
		case "nop", "blackhole", "unreachable", "prohibit":
			err = setAction(ruleTypes[word])
		case "l3mdev", "tunnel-id":
			return out, fmt.Errorf("option %q is not supported by vigil", word)
		default:
			return out, fmt.Errorf("option %q is not supported", word)
		}
		if err != nil {
			return out, err
		}
	}
	out.Family = family
	if out.Family == 0 {
		out.Family = unix.AF_INET
	}
	// The configuration gives a rule without a preference the next free one, with a warning.
	if !out.HasPriority && r.Priority != "" {
		n, err := strconv.ParseUint(r.Priority, 0, 32)
		if err != nil {
			return out, fmt.Errorf("preference %q: want 0 to 4294967295", r.Priority)
		}
		out.Priority, out.HasPriority = uint32(n), true
	}
	switch {
	case out.Action == 0:
		return out, fmt.Errorf("no action: want table, goto, nop, blackhole, unreachable or prohibit")
	case out.Action == unix.FR_ACT_GOTO && (!out.HasPriority || out.Priority >= out.Goto):
		return out, fmt.Errorf("goto %d must jump past the rule's own preference", out.Goto)
	case out.Action != unix.FR_ACT_TO_TBL && (out.HasSuppressPrefixlen || out.HasSuppressIfgroup || out.Realms != 0):
		return out, fmt.Errorf("suppress_prefixlength, suppress_ifgroup and realms need a table action")
	case (out.HasSuppressPrefixlen || out.HasSuppressIfgroup) && out.Table >= 256:
		return out, fmt.Errorf("suppress_prefixlength and suppress_ifgroup work with tables below 256 only in vigil")
	}
	return out, nil
}

// rulePrefix reads a rule's address: "all" (no selector), a prefix or a single address.
func rulePrefix(s string) (netip.Prefix, error) {
	switch s {
	case "all", "any", "default":
		return netip.Prefix{}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want all, an address or a prefix")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseRealms reads "[FROM/]TO" realm numbers into the kernel's FROM<<16 | TO.
func parseRealms(s string) (uint32, error) {
	from, to, both := strings.Cut(s, "/")
	if !both {
		from, to = "0", s
	}
	f, err1 := strconv.ParseUint(from, 0, 16)
	t, err2 := strconv.ParseUint(to, 0, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("realms %q: want [FROM/]TO realm numbers (names are not read)", s)
	}
	return uint32(f)<<16 | uint32(t), nil
}

// parsePortRange reads "PORT" or "FIRST-LAST".
func parsePortRange(s string) ([2]uint16, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.ParseUint(a, 10, 16)
	hi, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || lo > hi || hi == 0 {
		return [2]uint16{}, fmt.Errorf("%q: want PORT or FIRST-LAST", s)
	}
	return [2]uint16{uint16(lo), uint16(hi)}, nil
}
