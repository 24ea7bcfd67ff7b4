package config

import (
	"net/netip"
	"strings"
)

// parsePrefix reads an address with an optional /len; without one the prefix is the whole
// address (/32 or /128), as Keepalived does for virtual addresses.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
