package vrrpd

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// The lines of the address, route and rule blocks, in an instance (virtual_ipaddress,
// virtual_ipaddress_excluded, virtual_routes, virtual_rules) or at the top level
// (static_ipaddress, static_routes, static_rules).

// parseVirtualIP reads one address line of virtual_ipaddress(_excluded), or of static_ipaddress
// when st is not nil (track_group names are then looked up in st). It returns nil when
// Keepalived would skip the address. An interface named with dev is not checked here: whether
// it exists is this host's matter, warned of by the VRRP half's build (and vigil -t).
func parseVirtualIP(p *syntax.Parser, l syntax.Line, st *Static) *VirtualIP {
	static := st != nil
	w := l.Words
	a := &VirtualIP{Pos: l.Pos}
	addr := w[0]
	bits := -1
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		maxBits := 32
		if strings.Contains(addr, ":") {
			maxBits = 128
		}
		n, ok := unsignedQuiet(addr[i+1:], 0, uint64(maxBits))
		if !ok {
			p.Diags.Warnf(l.Pos, "number '%s' outside range [0, %d]", addr[i+1:], maxBits)
			p.Diags.Warnf(l.Pos, "Invalid address prefix len %s for address %s - using %d", addr[i+1:], addr, maxBits)
		} else {
			bits = int(n)
		}
		addr = addr[:i]
	}
	// Like inet_pton, a ':' makes it IPv6 (an IPv4-mapped address stays IPv6).
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" || strings.Contains(addr, ":") != ip.Is6() {
		p.Diags.Warnf(l.Pos, "VRRP parsed invalid IP %s. skipping IP...", w[0])
		return nil
	}
	if bits < 0 {
		bits = ip.BitLen()
	}
	a.Prefix = netip.PrefixFrom(ip, bits)
	var missing string
	hasBrd := false
	for i := 1; i < len(w); i++ {
		opt := w[i]
		param := i+1 < len(w)
		needParam := func() (string, bool) {
			if !param {
				missing = opt
				return "", false
			}
			i++
			return w[i], true
		}
		switch opt {
		case "dev":
			s, ok := needParam()
			if !ok {
				break
			}
			if a.Dev != "" {
				p.Diags.Warnf(l.Pos, "Cannot specify ipaddress device more than once for %s", w[0])
				return nil
			}
			a.Dev = s
		case "scope":
			s, ok := needParam()
			if !ok {
				break
			}
			if !validScope(s) {
				p.Diags.Warnf(l.Pos, "Invalid scope '%s' specified for %s - ignoring", s, w[0])
			} else {
				a.Scope = s
			}
		case "broadcast", "brd":
			s, ok := needParam()
			if !ok {
				break
			}
			if ip.Is6() {
				p.Diags.Warnf(l.Pos, "VRRP is trying to assign a broadcast %s to the IPv6 address %s !!?? WTF... skipping VIP...", opt, w[0])
				return nil
			}
			if s != "+" && s != "-" {
				if b, err := netip.ParseAddr(s); err != nil || !b.Is4() {
					p.Diags.Warnf(l.Pos, "VRRP is trying to assign invalid broadcast %s. skipping VIP...", s)
					return nil
				}
			}
			a.Broadcast, hasBrd = s, true
		case "label":
			s, ok := needParam()
			if !ok {
				break
			}
			if len(s) >= 16 {
				p.Diags.Warnf(l.Pos, "Address label %s is longer than maximum length %d - removing address", s, 15)
				return nil
			}
			a.Label = s
		case "peer":
			s, ok := needParam()
			if !ok {
				break
			}
			if a.Peer.IsValid() {
				p.Diags.Warnf(l.Pos, "Peer %s - another peer has already been specified", s)
				continue
			}
			pa, ok := unmap(syntax.Addr(s))
			switch {
			case !ok:
				p.Diags.Warnf(l.Pos, "Invalid peer address %s", s)
			case pa.Is6() != ip.Is6():
				p.Diags.Warnf(l.Pos, "Peer address %s does not match address family", s)
			default:
				if a.Prefix.Bits() != ip.BitLen() {
					p.Diags.Warnf(l.Pos, "Cannot specify address prefix when specifying peer address - ignoring")
				}
				a.Peer = pa
			}
		case "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin":
			a.Flags = append(a.Flags, opt)
		case "no_track":
			a.NoTrack = true
		case "preferred_lft":
			s, ok := needParam()
			if !ok {
				break
			}
			if s != "forever" {
				if _, ok := unsignedQuiet(s, 0, 4294967295); !ok {
					p.Diags.Warnf(l.Pos, "preferred_lft %s is invalid", s)
					continue
				}
			}
			a.PreferredLft = s
		case "track_group":
			if !static {
				p.Diags.Warnf(l.Pos, "Unknown configuration entry '%s' for ip address - ignoring", opt)
				continue
			}
			s, ok := needParam()
			if !ok {
				break
			}
			if a.TrackGroup != "" {
				p.Diags.Warnf(l.Pos, "track_group %s is a duplicate", s)
				missing = "-"
				break
			}
			found := false
			for _, tg := range st.TrackGroups {
				found = found || tg.Name == s
			}
			if !found {
				p.Diags.Warnf(l.Pos, "track_group %s not found", s)
				continue
			}
			a.TrackGroup = s
		case "use_vmac":
			if static {
				p.Diags.Warnf(l.Pos, "Unknown configuration entry '%s' for ip address - ignoring", opt)
				continue
			}
			a.UseVMAC = true
		default:
			p.Diags.Warnf(l.Pos, "Unknown configuration entry '%s' for ip address - ignoring", opt)
		}
		if missing != "" {
			break
		}
	}
	if missing == "-" {
		// A duplicate track_group ends the options, as in Keepalived.
		missing = ""
	}
	if missing != "" {
		p.Diags.Warnf(l.Pos, "No %s parameter specified for %s", missing, w[0])
		return nil
	}
	if hasBrd && a.Peer.IsValid() {
		p.Diags.Warnf(l.Pos, "Cannot specify broadcast and peer addresses - ignoring broadcast address")
		a.Broadcast = ""
	} else if (a.Broadcast == "+" || a.Broadcast == "-") && a.Prefix.Bits() > 30 {
		p.Diags.Warnf(l.Pos, "Address prefix length %d too long for broadcast", a.Prefix.Bits())
	}
	if ip.Is6() {
		if a.Scope != "" {
			p.Diags.Warnf(l.Pos, "Cannot specify scope for IPv6 addresses (%s) - ignoring scope", w[0])
			a.Scope = ""
		}
		if a.Label != "" {
			p.Diags.Warnf(l.Pos, "Cannot specify label for IPv6 addresses (%s) - ignoring label", w[0])
			a.Label = ""
		}
	}
	if a.TrackGroup != "" && a.Dev == "" {
		p.Diags.Warnf(l.Pos, "Static route cannot have track_group if interface not specified")
		a.TrackGroup = ""
	}
	return a
}

// unsignedQuiet is syntax's Unsigned without its complaint, for callers with their own message.
func unsignedQuiet(s string, min, max uint64) (uint64, bool) {
	var quiet syntax.Diagnostics
	q := &syntax.Parser{Diags: &quiet}
	return q.Unsigned(syntax.Pos{}, s, min, max)
}

// validScope reports whether s names an address scope (iproute2's rt_scopes or a number).
func validScope(s string) bool {
	switch s {
	case "global", "universe", "site", "link", "host", "nowhere":
		return true
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// isRouteType reports whether s is an iproute2 route type, which may precede the destination.
func isRouteType(s string) bool {
	switch s {
	case "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable",
		"prohibit", "throw", "nat":
		return true
	}
	return false
}

// routeOptionArgs tells how many words follow a route option keyword (Keepalived's
// vrrp_iproute.c); options not listed here are not options but the destination.
func routeOptionArgs(s string) (int, bool) {
	switch s {
	case "inet", "inet6", "onlink", "quickack", "fastopen_no_cookie", "no_track":
		return 0, true
	case "src", "as", "via", "gw", "or", "from", "tos", "dsfield", "table", "protocol", "proto",
		"scope", "metric", "priority", "preference", "dev", "oif", "expires", "mtu", "hoplimit",
		"advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "ssthresh", "realms",
		"rto_min", "initcwnd", "initrwnd", "features", "congctl", "pref", "ttl-propagate",
		"track_group", "vrf":
		return 1, true
	}
	return 0, false
}

// parseRoute reads one line of virtual_routes or static_routes: "[to] [TYPE] DEST [options]
// [nexthop ...]". The destination and the common attributes are parsed; the whole line is kept
// in Words for the rest. Interfaces named are not checked here (this host's matter: the VRRP
// half's build warns of a missing dev, and so does vigil -t).
func parseRoute(p *syntax.Parser, l syntax.Line, static bool) *VirtualRoute {
	w := l.Words
	r := &VirtualRoute{Pos: l.Pos, Words: append([]string(nil), w...)}
	for i := 0; i < len(w); i++ {
		opt := w[i]
		if opt == "nexthop" {
			break
		}
		n, isOpt := routeOptionArgs(opt)
		if !isOpt {
			if opt == "to" && i+1 < len(w) {
				i++
			}
			if isRouteType(w[i]) && i+1 < len(w) {
				r.Type = w[i]
				i++
			}
			dest := w[i]
			if dest != "default" {
				if _, ok := syntax.Prefix(dest); !ok {
					p.Diags.Warnf(l.Pos, "unknown route keyword %s", dest)
					return nil
				}
			}
			r.Dest = dest
			continue
		}
		val := ""
		if n == 1 {
			if i+1 >= len(w) {
				break
			}
			val = w[i+1]
			if val == "lock" && i+2 < len(w) {
				i++
				val = w[i+1]
			}
		}
		switch opt {
		case "src":
			a, ok := unmap(syntax.Addr(val))
			if !ok {
				p.Diags.Warnf(l.Pos, "invalid route src address %s", val)
				return nil
			}
			r.Src = a
		case "or":
			p.Diags.Warnf(l.Pos, "\"or\" for routes is deprecated. Please use \"nexthop\"")
		case "gw", "via":
			if opt == "gw" {
				p.Diags.Warnf(l.Pos, "\"gw\" for routes is deprecated. Please use \"via\"")
			}
			a, ok := unmap(syntax.Addr(val))
			if !ok {
				p.Diags.Warnf(l.Pos, "invalid route via address %s", val)
				return nil
			}
			r.Via = a
		case "dev", "oif":
			r.Dev = val
		case "table":
			r.Table = val
		case "metric", "preference", "priority":
			r.Metric = val
		case "scope":
			r.Scope = val
		case "no_track":
			r.NoTrack = true
		case "track_group":
			r.TrackGroup = val
		}
		i += n
	}
	if r.Dest == "" {
		p.Diags.Warnf(l.Pos, "Route must have a destination")
		return nil
	}
	if !r.NoTrack && r.Dev == "" {
		p.Diags.Warnf(l.Pos, "Warning - cannot track route %s with no interface specified, not tracking", r.Dest)
		r.NoTrack = true
	}
	if r.TrackGroup != "" && r.Dev == "" {
		p.Diags.Warnf(l.Pos, "Static route cannot have track group if no oif specified")
		r.TrackGroup = ""
	}
	_ = static
	return r
}

// parseRule reads one line of virtual_rules or static_rules (iproute2 "ip rule" syntax). The
// selectors are checked as Keepalived checks them; a rule without a preference gets the next one
// down from 16384 per address family, with Keepalived's warning.
func (st *vrrpState) parseRule(p *syntax.Parser, l syntax.Line) *VirtualRule {
	w := l.Words
	r := &VirtualRule{Pos: l.Pos, Words: append([]string(nil), w...)}
	family := ""
	addr := func(kind, s string) bool {
		ip := strings.SplitN(s, "/", 2)
		a, ok := unmap(syntax.Addr(ip[0]))
		if !ok || strings.Contains(ip[0], ":") != a.Is6() {
			p.Diags.Warnf(l.Pos, "VRRP parsed invalid IP %s. skipping IP...", s)
			p.Diags.Warnf(l.Pos, "Invalid rule %s address %s", kind, s)
			return false
		}
		f := "inet"
		if a.Is6() {
			f = "inet6"
		}
		if family != "" && family != f {
			p.Diags.Warnf(l.Pos, "rule specification has mixed IPv4 and IPv6")
			return false
		}
		family = f
		return true
	}
	for i := 0; i < len(w); i++ {
		val := ""
		if i+1 < len(w) {
			val = w[i+1]
		}
		switch w[i] {
		case "inet", "inet6":
			family = w[i]
		case "from":
			if val != "all" && !addr("from", val) {
				return nil
			}
			r.From = val
			i++
		case "to":
			if val != "all" && !addr("to", val) {
				return nil
			}
			r.To = val
			i++
		case "table", "lookup":
			r.Table = val
			i++
		case "priority", "preference", "pref", "order":
			if _, ok := unsignedQuiet(val, 0, 4294967295); !ok {
				p.Diags.Warnf(l.Pos, "Invalid rule preference %s specified", val)
				return nil
			}
			r.Priority = val
			i++
		case "no_track":
			r.NoTrack = true
		case "tos", "dsfield", "fwmark", "realms", "suppress_prefixlength", "sup_pl",
			"suppress_ifgroup", "sup_group", "iif", "dev", "oif", "tun_id", "uidrange", "protocol",
			"ipproto", "sport", "dport", "track_group", "goto", "type":
			i++
		}
	}
	if r.Priority == "" {
		next := &st.nextRulePrio4
		if family == "inet6" {
			next = &st.nextRulePrio6
		}
		r.Priority = strconv.Itoa(*next)
		p.Diags.Warnf(l.Pos, "Rule has no preference specified - setting to %d. This is probably not what you want.", *next)
		*next--
	}
	return r
}

// unmap takes what syntax.Addr or syntax.SockAddr return and reads an IPv4-mapped IPv6 address
// as the IPv4 address: the VRRP half compares families that way.
func unmap(a netip.Addr, ok bool) (netip.Addr, bool) { return a.Unmap(), ok }
