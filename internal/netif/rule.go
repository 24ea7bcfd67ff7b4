package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Rule is one routing policy rule ("ip rule") to install or remove. It is comparable, so a
// reload can tell which rules stay. Optional selectors that have a meaningful zero carry a
// Has flag.
type Rule struct {
	// Family is unix.AF_INET or unix.AF_INET6; 0 takes From's or To's, else IPv4.
	Family int
	// From and To select by source and destination prefix; the zero Prefix matches all.
	From, To netip.Prefix
	// Invert is iproute2's "not": the rule applies to packets that do not match.
	Invert   bool
	IIF, OIF string // input and output interface names; empty: any
	Mark     uint32 // fwmark, when HasMark
	Mask     uint32 // fwmark mask, when HasMask (the kernel takes all ones otherwise)
	HasMark  bool
	HasMask  bool
	TOS      uint8
	Priority uint32 // preference, when HasPriority (the kernel picks one otherwise)
	// HasPriority says Priority was given.
	HasPriority bool
	// Action is unix.FR_ACT_*: TO_TBL, GOTO, NOP, BLACKHOLE, UNREACHABLE or PROHIBIT.
	Action uint8
	Table  int    // the table looked up by a TO_TBL rule (256 and above are fine)
	Goto   uint32 // the preference a GOTO rule jumps to
	// Realms is iproute2's "realms FROM/TO" as the kernel holds it (FROM<<16 | TO); 0: none.
	Realms uint32
	// SuppressPrefixlen and SuppressIfgroup apply to TO_TBL rules, when their Has flag is set.
	SuppressPrefixlen    int
	HasSuppressPrefixlen bool
	SuppressIfgroup      int
	HasSuppressIfgroup   bool
	// UIDRange selects by the socket's owner, when HasUIDRange.
	UIDRange    [2]uint32
	HasUIDRange bool
	// IPProto is the IP protocol number; 0: any.
	IPProto uint8
	// Sport and Dport are port ranges (first, last); {0, 0}: any.
	Sport, Dport [2]uint16
	// Protocol is the rule's originator (iproute2 "protocol"); 0: unset.
	Protocol uint8
}

func (r Rule) String() string {
	var b strings.Builder
	if r.family() == unix.AF_INET6 {
		b.WriteString("inet6 ")
	}
	if r.Invert {
		b.WriteString("not ")
	}
	b.WriteString("from ")
	if r.From.IsValid() {
		b.WriteString(r.From.String())
	} else {
		b.WriteString("all")
	}
	if r.To.IsValid() {
		b.WriteString(" to " + r.To.String())
	}
	if r.IIF != "" {
		b.WriteString(" iif " + r.IIF)
	}
	if r.OIF != "" {
		b.WriteString(" oif " + r.OIF)
	}
	if r.HasMark {
		fmt.Fprintf(&b, " fwmark %#x", r.Mark)
		if r.HasMask {
			fmt.Fprintf(&b, "/%#x", r.Mask)
		}
	}
	if r.TOS != 0 {
		fmt.Fprintf(&b, " tos %#x", r.TOS)
	}
	if r.HasUIDRange {
		fmt.Fprintf(&b, " uidrange %d-%d", r.UIDRange[0], r.UIDRange[1])
	}
	if r.IPProto != 0 {
		fmt.Fprintf(&b, " ipproto %d", r.IPProto)
	}
	if r.Sport != [2]uint16{} {
		fmt.Fprintf(&b, " sport %d-%d", r.Sport[0], r.Sport[1])
	}
	if r.Dport != [2]uint16{} {
		fmt.Fprintf(&b, " dport %d-%d", r.Dport[0], r.Dport[1])
	}
	if r.HasPriority {
		fmt.Fprintf(&b, " pref %d", r.Priority)
	}
	switch r.Action {
	case unix.FR_ACT_TO_TBL:
		b.WriteString(" table " + strconv.Itoa(r.Table))
	case unix.FR_ACT_GOTO:
		fmt.Fprintf(&b, " goto %d", r.Goto)
	case unix.FR_ACT_NOP:
		b.WriteString(" nop")
	case unix.FR_ACT_BLACKHOLE:
		b.WriteString(" blackhole")
	case unix.FR_ACT_UNREACHABLE:
		b.WriteString(" unreachable")
	case unix.FR_ACT_PROHIBIT:
		b.WriteString(" prohibit")
	}
	if r.HasSuppressPrefixlen {
		fmt.Fprintf(&b, " suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	if r.HasSuppressIfgroup {
		fmt.Fprintf(&b, " suppress_ifgroup %d", r.SuppressIfgroup)
	}
	if r.Realms != 0 {
		fmt.Fprintf(&b, " realms %d/%d", r.Realms>>16, r.Realms&0xffff)
	}
	return b.String()
}

func (r Rule) family() int {
	switch {
	case r.Family != 0:
		return r.Family
	case r.From.IsValid() && r.From.Addr().Is6(), r.To.IsValid() && r.To.Addr().Is6():
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// toNLRule checks r and turns it into the netlink request's rule.
func (r Rule) toNLRule() (*netlink.Rule, error) {
	fam := r.family()
	for _, p := range []netip.Prefix{r.From, r.To} {
		if p.IsValid() && (p.Addr().Is6() != (fam == unix.AF_INET6)) {
			return nil, fmt.Errorf("netif: rule %s: prefix %s is not of the rule's family", r, p)
		}
	}
	nr := netlink.NewRule()
	nr.Family = fam
	if r.From.IsValid() {
		nr.Src = ipNet(r.From.Masked())
	}
	if r.To.IsValid() {
		nr.Dst = ipNet(r.To.Masked())
	}
	nr.Invert = r.Invert
	nr.IifName, nr.OifName = r.IIF, r.OIF
	if r.HasMark {
		nr.Mark = r.Mark
		if r.HasMask {
			m := r.Mask
			nr.Mask = &m
		}
	}
	nr.Tos = uint(r.TOS)
	if r.HasPriority {
		nr.Priority = int(r.Priority)
	}
	switch r.Action {
	case unix.FR_ACT_TO_TBL:
		if r.Table <= 0 {
			return nil, fmt.Errorf("netif: rule %s: a table action needs a table other than 0", r)
		}
		nr.Table = r.Table
	case unix.FR_ACT_GOTO:
		nr.Goto = int(r.Goto)
	case unix.FR_ACT_NOP, unix.FR_ACT_BLACKHOLE, unix.FR_ACT_UNREACHABLE, unix.FR_ACT_PROHIBIT:
		nr.Type = r.Action
	default:
		return nil, fmt.Errorf("netif: rule %s: action %d: want a table, goto, nop, blackhole, unreachable or prohibit", r, r.Action)
	}
	if (r.HasSuppressPrefixlen || r.HasSuppressIfgroup || r.Realms != 0) && r.Action != unix.FR_ACT_TO_TBL {
		return nil, fmt.Errorf("netif: rule %s: suppress_prefixlength, suppress_ifgroup and realms need a table action", r)
	}
	// The netlink library sends the suppressors only with a table that fits the header's
	// byte; refuse rather than install a rule without them.
	if (r.HasSuppressPrefixlen || r.HasSuppressIfgroup) && r.Table >= 256 {
		return nil, fmt.Errorf("netif: rule %s: suppress_prefixlength and suppress_ifgroup are supported with tables below 256 only", r)
	}
	if r.HasSuppressPrefixlen {
		nr.SuppressPrefixlen = r.SuppressPrefixlen
	}
	if r.HasSuppressIfgroup {
		nr.SuppressIfgroup = r.SuppressIfgroup
	}
	if r.Realms != 0 {
		if fam != unix.AF_INET {
			return nil, fmt.Errorf("netif: rule %s: realms are for IPv4 only", r)
		}
		nr.Flow = int(r.Realms)
	}
	if r.HasUIDRange {
		nr.UIDRange = netlink.NewRuleUIDRange(r.UIDRange[0], r.UIDRange[1])
	}
	nr.IPProto = int(r.IPProto)
	if r.Sport != [2]uint16{} {
		nr.Sport = netlink.NewRulePortRange(r.Sport[0], r.Sport[1])
	}
	if r.Dport != [2]uint16{} {
		nr.Dport = netlink.NewRulePortRange(r.Dport[0], r.Dport[1])
	}
	nr.Protocol = r.Protocol
	return nr, nil
}

// AddRule installs r; a rule that is already there is not an error.
func (h *Host) AddRule(r Rule) error {
	nr, err := r.toNLRule()
	if err != nil {
		return err
	}
	if err := h.h.RuleAdd(nr); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("netif: add rule %s: %w", r, err)
	}
	return nil
}

// DeleteRule removes r; a rule that is not there is not an error.
func (h *Host) DeleteRule(r Rule) error {
	nr, err := r.toNLRule()
	if err != nil {
		return err
	}
	if err := h.h.RuleDel(nr); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("netif: delete rule %s: %w", r, err)
	}
	return nil
}

// HasRule reports whether r is installed: a rule of r's family with its selectors, its action
// and, when it has one, its preference. The netlink library does not read back the action of a
// rule without a table or a goto, so a blackhole, unreachable, prohibit or nop rule matches
// any of those four with the same selectors.
func (h *Host) HasRule(r Rule) (bool, error) {
	want, err := r.toNLRule()
	if err != nil {
		return false, err
	}
	list, err := dumpAgain(func() ([]netlink.Rule, error) { return h.h.RuleList(want.Family) })
	if err != nil {
		return false, fmt.Errorf("netif: read rules for %s: %w", r, err)
	}
	for _, got := range list {
		if sameRule(want, &got, r.HasPriority) {
			return true, nil
		}
	}
	return false, nil
}

// sameRule compares a rule as toNLRule sends it with one as the kernel lists it.
func sameRule(want, got *netlink.Rule, byPriority bool) bool {
	// The kernel takes a mark without a mask as the whole mark.
	wantMask := uint32(0)
	if want.Mask != nil {
		wantMask = *want.Mask
	} else if want.Mark != 0 {
		wantMask = 0xffffffff
	}
	gotMask := uint32(0)
	if got.Mask != nil {
		gotMask = *got.Mask
	}
	switch {
	case byPriority && got.Priority != want.Priority:
	case !samePrefix(got.Src, want.Src) || !samePrefix(got.Dst, want.Dst) || got.Invert != want.Invert:
	case got.IifName != want.IifName || got.OifName != want.OifName || got.Tos != want.Tos:
	case got.Mark != want.Mark || gotMask != wantMask:
	case got.Table != want.Table || got.Goto != want.Goto || got.Flow != want.Flow:
	case got.SuppressPrefixlen != want.SuppressPrefixlen || got.SuppressIfgroup != want.SuppressIfgroup:
	case got.IPProto != want.IPProto || got.Protocol != want.Protocol:
	case !sameRange(got.Sport, want.Sport) || !sameRange(got.Dport, want.Dport) || !sameRange(got.UIDRange, want.UIDRange):
	default:
		return true
	}
	return false
}

// samePrefix compares two rule selectors; nil and a zero-length prefix both match all.
func samePrefix(a, b *net.IPNet) bool {
	ones := func(n *net.IPNet) int {
		if n == nil {
			return 0
		}
		o, _ := n.Mask.Size()
		return o
	}
	if ones(a) == 0 || ones(b) == 0 {
		return ones(a) == ones(b)
	}
	return ones(a) == ones(b) && a.IP.Equal(b.IP)
}

func sameRange[R netlink.RulePortRange | netlink.RuleUIDRange](a, b *R) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
