package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Value readers shared by every keyword table. Each reports a problem with the line's position
// and returns ok=false, leaving the caller's default in place, as Keepalived does.

// arg returns word i of l (0 is the keyword), or reports that it is missing.
func (p *parser) arg(l Line, i int, what string) (string, bool) {
	if i < len(l.Words) {
		return l.Words[i], true
	}
	p.diags.Warnf(l.Pos, "%s: missing %s", l.Words[0], what)
	return "", false
}

// uintArg reads word i as an unsigned integer in [min, max].
func (p *parser) uintArg(l Line, i int, min, max uint64) (uint64, bool) {
	s, ok := p.arg(l, i, "number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if _, ferr := strconv.ParseInt(s, 10, 64); ferr == nil {
			p.diags.Warnf(l.Pos, "number '%s' outside range [%d, %d]", s, min, max)
			return 0, false
		}
		p.diags.Warnf(l.Pos, "invalid number '%s'", s)
		return 0, false
	}
	if v < min || v > max {
		p.diags.Warnf(l.Pos, "number '%s' outside range [%d, %d]", s, min, max)
		return 0, false
	}
	return v, true
}

// intArg reads word i as a signed integer in [min, max].
func (p *parser) intArg(l Line, i int, min, max int64) (int64, bool) {
	s, ok := p.arg(l, i, "number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.diags.Warnf(l.Pos, "invalid number '%s'", s)
		return 0, false
	}
	if v < min || v > max {
		p.diags.Warnf(l.Pos, "number '%s' outside range [%d, %d]", s, min, max)
		return 0, false
	}
	return v, true
}

// secondsArg reads word i as a duration in seconds with up to microsecond precision, in
// [min, max] seconds: Keepalived's unit for delays and intervals ("1.5" is 1.5 s).
func (p *parser) secondsArg(l Line, i int, min, max float64) (time.Duration, bool) {
	s, ok := p.arg(l, i, "number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		p.diags.Warnf(l.Pos, "invalid number '%s'", s)
		return 0, false
	}
	if v < min || v > max {
		p.diags.Warnf(l.Pos, "number '%s' outside range [%f, %f]", s, min, max)
		return 0, false
	}
	return time.Duration(math.Round(v * float64(time.Second))), true
}

// boolArg reads an optional word i as a boolean; a keyword alone means true.
func (p *parser) boolArg(l Line, i int) (bool, bool) {
	if i >= len(l.Words) {
		return true, true
	}
	switch strings.ToLower(l.Words[i]) {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	p.diags.Warnf(l.Pos, "invalid boolean '%s' for %s - expected true/false, on/off or yes/no", l.Words[i], l.Words[0])
	return false, false
}

// addrArg reads word i as an IPv4 or IPv6 address (no zone).
func (p *parser) addrArg(l Line, i int, what string) (netip.Addr, bool) {
	s, ok := p.arg(l, i, what)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		p.diags.Warnf(l.Pos, "invalid %s '%s' - expected an IPv4 or IPv6 address", what, s)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

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
