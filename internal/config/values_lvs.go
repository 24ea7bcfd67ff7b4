package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Value readers for the LVS side. Keepalived's checker parser uses its own number readers
// (read_unsigned_strvec, read_timer, read_int_strvec) whose complaints differ from the generic
// ones in values.go; these reproduce them word for word, because `vigil -t` output is compared
// with `keepalived -t` output.

// lvsMaxUint32 is UINT_MAX, the bound Keepalived prints in most of its ranges.
const lvsMaxUint32 = math.MaxUint32

// lvsTimerMax is TIMER_MAXIMUM (ULONG_MAX - 1 microseconds), the upper bound of read_timer
// when a keyword sets none.
const lvsTimerMax = math.MaxUint64 - 1

// need reports Keepalived's fatal complaint when word i of l is absent. Keepalived stops reading
// the configuration there, so vigil calls it an error.
func (p *parser) lvsNeed(l Line, i int) bool {
	if i < len(l.Words) {
		return true
	}
	p.diags.Errorf(l.Pos, "*** Configuration line starting `%s` is missing a parameter after keyword `%s` at word position %d",
		l.Words[0], l.Words[len(l.Words)-1], i+1)
	return false
}

// lvsUintWord reads word i of l with kaUnsigned; a missing word is Keepalived's fatal complaint.
func (p *parser) lvsUintWord(l Line, i int, min, max uint64) (uint64, bool) {
	if !p.lvsNeed(l, i) {
		return 0, false
	}
	return p.kaUnsigned(l.Pos, l.Words[i], min, max)
}

// lvsIntWord reads word i of l as Keepalived's read_int does: a signed decimal in [min, max].
func (p *parser) lvsIntWord(l Line, i int, min, max int64) (int64, bool) {
	if !p.lvsNeed(l, i) {
		return 0, false
	}
	s := l.Words[i]
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if lvsNumError(err, &ne) && ne.Err == strconv.ErrRange {
			p.diags.Warnf(l.Pos, "number '%s' outside integer range", s)
		} else {
			p.diags.Warnf(l.Pos, "invalid number '%s'", s)
		}
		return 0, false
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		p.diags.Warnf(l.Pos, "number '%s' outside integer range", s)
		return 0, false
	}
	if v < min || v > max {
		p.diags.Warnf(l.Pos, "number '%s' outside range [%d, %d]", s, min, max)
		return 0, false
	}
	return v, true
}

func lvsNumError(err error, target **strconv.NumError) bool {
	ne, ok := err.(*strconv.NumError)
	if ok {
		*target = ne
	}
	return ok
}

// lvsTimer reads word i of l as Keepalived's read_timer does: seconds with up to six decimal
// places, in [minMicros, maxMicros] microseconds (maxMicros 0 means TIMER_MAXIMUM). More than six
// decimals is reported and rounded, as Keepalived does, and the value is still used.
//
// silent is set when the word was rejected but Keepalived would not add the keyword's own
// complaint: for a malformed number whose leading digits happen to be in range, read_timer says
// "invalid number" and then accepts those digits (so "1x" is one microsecond). vigil reports the
// same single message but keeps the previous value rather than use a number nobody wrote.
func (p *parser) lvsTimer(l Line, i int, minMicros, maxMicros uint64) (d time.Duration, ok, silent bool) {
	if !p.lvsNeed(l, i) {
		return 0, false, true
	}
	s := l.Words[i]
	if maxMicros == 0 {
		maxMicros = lvsTimerMax
	}
	if strings.HasPrefix(s, "-") {
		p.diags.Warnf(l.Pos, "negative number '%s'", s)
		return 0, false, false
	}
	intPart, frac, _ := strings.Cut(s, ".")
	roundUp := false
	if len(frac) > 6 {
		p.diags.Warnf(l.Pos, "number '%s' has too many decimal places", s)
		roundUp = frac[6] >= '5'
		frac = frac[:6]
	}
	digits := strings.TrimPrefix(intPart, "+") + frac + strings.Repeat("0", 6-len(frac))
	if n := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); n >= 0 {
		p.diags.Warnf(l.Pos, "invalid number '%s'", s)
		lead, err := strconv.ParseUint("0"+digits[:n], 10, 64)
		return 0, false, err == nil && lead >= minMicros && lead <= maxMicros
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		p.diags.Warnf(l.Pos, "number '%s' outside unsigned decimal range", s)
		return 0, false, false
	}
	if roundUp {
		v++
	}
	if v < minMicros || v > maxMicros {
		p.diags.Warnf(l.Pos, "number '%s' outside range [%d.%06d, %d.%06d]", s,
			minMicros/1e6, minMicros%1e6, maxMicros/1e6, maxMicros%1e6)
		return 0, false, false
	}
	const maxDurMicros = uint64(math.MaxInt64 / int64(time.Microsecond))
	if v > maxDurMicros {
		v = maxDurMicros
	}
	return time.Duration(v) * time.Microsecond, true, false
}

// lvsTrueFalse is Keepalived's check_true_false: exact lower-case words only. ok is false for any
// other word.
func lvsTrueFalse(s string) (v, ok bool) {
	switch s {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	return false, false
}

// lvsOptBool reads an optional true/false word after a keyword; the keyword alone means true. On a
// bad word it reports "Invalid <what> parameter WORD" and returns ok=false.
func (p *parser) lvsOptBool(l Line, what string) (bool, bool) {
	if len(l.Words) < 2 {
		return true, true
	}
	v, ok := lvsTrueFalse(l.Words[1])
	if !ok {
		p.diags.Warnf(l.Pos, "Invalid %s parameter %s", what, l.Words[1])
		return false, false
	}
	return v, true
}

// lvsRest joins the words after the keyword, for scripts and names that may contain spaces.
func lvsRest(l Line) string {
	if len(l.Words) < 2 {
		return ""
	}
	return strings.Join(l.Words[1:], " ")
}

// lvsAddrPort reads an address and optional port the way Keepalived's inet_stosockaddr does: the
// family is chosen by the presence of ':', anything from a '-' or '/' on is ignored, a port of
// all zeros means no port, and a bad port is reported by the number reader first. ok is false
// when the address or port is invalid; the caller reports that with its own message.
func (p *parser) lvsAddrPort(pos Pos, ip, port string) (netip.Addr, uint16, bool) {
	var portNum uint64
	if port != "" && strings.Trim(port, "0") != "" {
		v, ok := p.kaUnsigned(pos, port, 1, 65535)
		if !ok {
			return netip.Addr{}, 0, false
		}
		portNum = v
	}
	if i := strings.IndexAny(ip, "-/"); i >= 0 {
		ip = ip[:i]
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, false
	}
	// inet_pton picks the family from ':' alone: an IPv4-mapped IPv6 address stays IPv6.
	return a, uint16(portNum), true
}

// lvsTrio renders an address, protocol and port as Keepalived's inet_sockaddrtotrio does:
// "[10.0.0.1]:tcp:80".
func lvsTrio(a netip.Addr, proto string, port uint16) string {
	if proto == "" {
		proto = "none"
	}
	return fmt.Sprintf("[%s]:%s:%d", a, strings.ToLower(proto), port)
}
