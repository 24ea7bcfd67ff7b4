package syntax

import (
	"net/netip"
	"strings"
)

// Addr reads an address as inet_pton does: no zone, no prefix. The family is the one written:
// an IPv4-mapped IPv6 address stays IPv6 (callers that compare families as IPv4 unmap it).
func Addr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// SockAddr reads an address as Keepalived's inet_stosockaddr does: anything from the first '-'
// or '/' on (a range or a mask) is dropped, then it is read as Addr reads it.
func SockAddr(s string) (netip.Addr, bool) {
	if i := strings.IndexAny(s, "-/"); i >= 0 {
		s = s[:i]
	}
	return Addr(s)
}

// AddrPort reads an address and optional port the way Keepalived's inet_stosockaddr does: the
// address as SockAddr reads it; a port of all zeros means no port, and a bad port is reported by
// Unsigned first. ok is false when the address or port is invalid; the caller reports that with
// its own message.
func (p *Parser) AddrPort(pos Pos, ip, port string) (netip.Addr, uint16, bool) {
	var portNum uint64
	if port != "" && strings.Trim(port, "0") != "" {
		v, ok := p.Unsigned(pos, port, 1, 65535)
		if !ok {
			return netip.Addr{}, 0, false
		}
		portNum = v
	}
	a, ok := SockAddr(ip)
	if !ok {
		return netip.Addr{}, 0, false
	}
	return a, uint16(portNum), true
}

// Prefix reads an address with an optional /len; without one the prefix is the whole address
// (/32 or /128), as Keepalived does for virtual addresses. An IPv4-mapped IPv6 address is read
// as the IPv4 address.
func Prefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()), true
	}
	a, ok := Addr(s)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
