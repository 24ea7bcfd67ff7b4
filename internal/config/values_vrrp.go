package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Value readers with Keepalived's exact wording, for the VRRP and global_defs tables. Keepalived
// reports a bad number in two lines: first the reader's complaint ("number '0' outside range
// [1, 255]"), then the keyword's own ("(VI_1) Priority not valid! ..."). These readers emit the
// first line; the keyword handler emits the second, so both land on the line at fault.

// need returns word i of l. A missing word is fatal in Keepalived (it exits with this message),
// so it is an Error here.
func (p *parser) need(l Line, i int) (string, bool) {
	if i < len(l.Words) {
		return l.Words[i], true
	}
	if i > 0 && i-1 < len(l.Words) {
		p.diags.Errorf(l.Pos, "*** Configuration line starting `%s` is missing a parameter after keyword `%s` at word position %d",
			l.Words[0], l.Words[i-1], i+1)
	} else {
		p.diags.Errorf(l.Pos, "*** Configuration line starting `%s` is missing a parameter at word position %d", l.Words[0], i+1)
	}
	return "", false
}

// kaUnsigned reads s as Keepalived's read_unsigned does, for every keyword table: a decimal integer in [min, max]
// (min and max within 32 bits).
func (p *parser) kaUnsigned(pos Pos, s string, min, max uint64) (uint64, bool) {
	t := strings.TrimLeft(s, " \t")
	switch {
	case strings.HasPrefix(t, "-"):
		p.diags.Warnf(pos, "negative number '%s'", s)
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(t, "+"), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			p.diags.Warnf(pos, "number '%s' outside unsigned integer range", s)
			return 0, false
		}
		p.diags.Warnf(pos, "invalid number '%s'", s)
		return 0, false
	}
	if v > math.MaxUint32 {
		p.diags.Warnf(pos, "number '%s' outside unsigned integer range", s)
		return 0, false
	}
	if v < min || v > max {
		p.diags.Warnf(pos, "number '%s' outside range [%d, %d]", s, min, max)
		return 0, false
	}
	return v, true
}

// kaInt reads s as Keepalived's read_int does: a decimal integer in [min, max].
func (p *parser) kaInt(pos Pos, s string, min, max int64) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimLeft(s, " \t"), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			p.diags.Warnf(pos, "number '%s' outside integer range", s)
			return 0, false
		}
		p.diags.Warnf(pos, "invalid number '%s'", s)
		return 0, false
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		p.diags.Warnf(pos, "number '%s' outside integer range", s)
		return 0, false
	}
	if v < min || v > max {
		p.diags.Warnf(pos, "number '%s' outside range [%d, %d]", s, min, max)
		return 0, false
	}
	return v, true
}

// kaDecimal reads s as Keepalived's read_decimal_unsigned with 6 decimal places does: a
// non-negative decimal number of seconds, returned in microseconds, in [min, max] microseconds.
// More than 6 decimal places is reported and rounded, and the value is still used.
func (p *parser) kaDecimal(pos Pos, s string, min, max uint64) (uint64, bool) {
	if strings.HasPrefix(s, "-") {
		p.diags.Warnf(pos, "negative number '%s'", s)
		return 0, false
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	roundUp := false
	if hasDot && len(frac) > 6 {
		p.diags.Warnf(pos, "number '%s' has too many decimal places", s)
		roundUp = frac[6] >= '5'
		frac = frac[:6]
	}
	digits := intPart + frac + strings.Repeat("0", 6-len(frac))
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || digits == "" || strings.ContainsAny(digits, "+-") {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			p.diags.Warnf(pos, "number '%s' outside unsigned decimal range", s)
			return 0, false
		}
		p.diags.Warnf(pos, "invalid number '%s'", s)
		return 0, false
	}
	if roundUp {
		v++
	}
	if v < min || v > max {
		p.diags.Warnf(pos, "number '%s' outside range [%d.%06d, %d.%06d]", s, min/1e6, min%1e6, max/1e6, max%1e6)
		return 0, false
	}
	return v, true
}

// micros turns microseconds into a Duration.
func micros(v uint64) Duration { return Duration(time.Duration(v) * time.Microsecond) }

// seconds turns whole seconds into a Duration.
func seconds(v uint64) Duration { return Duration(time.Duration(v) * time.Second) }

// kaTrueFalse is Keepalived's check_true_false: 1 for true/on/yes, 0 for false/off/no, -1 else.
func kaTrueFalse(s string) int {
	switch s {
	case "true", "on", "yes":
		return 1
	case "false", "off", "no":
		return 0
	}
	return -1
}

// optBool reads an optional true/false word at index 1: the keyword alone means true. bad is
// called with the word when it is neither.
func optBool(l Line, bad func(word string)) (bool, bool) {
	if len(l.Words) < 2 {
		return true, true
	}
	switch kaTrueFalse(l.Words[1]) {
	case 1:
		return true, true
	case 0:
		return false, true
	}
	bad(l.Words[1])
	return false, false
}

// boolPtr returns a pointer to b, for the tri-state settings that inherit a global default.
func boolPtr(b bool) *bool { return &b }

// parseIPAddr parses an address the way inet_pton does for its family: no zones, no prefix.
func parseIPAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseSockAddr reads an address the way Keepalived's inet_stosockaddr does: anything from the
// first '-' or '/' on (a range or a mask) is dropped.
func parseSockAddr(s string) (netip.Addr, bool) {
	if i := strings.IndexAny(s, "-/"); i >= 0 {
		s = s[:i]
	}
	return parseIPAddr(s)
}

// validHostPort checks a vigil status_listen value: host:port with a numeric port and a host
// that is an IP address, empty (all addresses) or a name.
func validHostPort(s string) error {
	host, port, ok := cutHostPort(s)
	if !ok {
		return fmt.Errorf("expected ADDRESS:PORT")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("port '%s' must be in [1, 65535]", port)
	}
	if strings.HasPrefix(s, "[") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("invalid address '%s'", host)
		}
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host '%s'", host)
	}
	return nil
}

// cutHostPort splits "host:port" or "[v6]:port".
func cutHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return "", "", false
		}
		return s[1:end], s[end+2:], true
	}
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Count(s, ":") > 1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// peek returns the next line without consuming it.
func (p *parser) peek() (Line, bool) {
	if p.next < len(p.lines) {
		return p.lines[p.next], true
	}
	return Line{}, false
}
