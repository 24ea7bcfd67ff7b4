package syntax

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// TimerMax is Keepalived's TIMER_MAXIMUM in microseconds (ULONG_MAX - 1), the upper bound of
// Timer when a keyword sets none.
const TimerMax = math.MaxUint64 - 1

// Decimal reads s as Keepalived's read_decimal_unsigned with six decimal places does: a
// non-negative decimal number of seconds, returned in microseconds, in [min, max]
// microseconds. More than six decimal places is reported and rounded, and the value is still
// used. The word must be a plain number: a sign or trailing text is "invalid number".
func (p *Parser) Decimal(pos Pos, s string, min, max uint64) (uint64, bool) {
	v, ok, _ := p.decimal(pos, s, min, max, false)
	return v, ok
}

// Timer reads word i of l as Keepalived's read_timer does: seconds with up to six decimal
// places, in [minMicros, maxMicros] microseconds (maxMicros 0 means TimerMax). More than six
// decimals is reported and rounded, as Keepalived does, and the value is still used.
//
// Unlike Decimal it reads as Keepalived does when a keyword passes ignore_error, as every
// checker timer does: a leading '+' is allowed, and silent is set when the word was rejected but
// Keepalived would not add the keyword's own complaint. For a malformed number whose leading
// digits happen to be in range, Keepalived says "invalid number" and then accepts those digits
// (so "1x" is one microsecond); vigil reports the same single message but keeps the previous
// value rather than use a number nobody wrote. A missing word is Need's complaint, and silent.
//
// Keepalived passes ignore_error on the VRRP side too (advert_int, preempt_delay, ...); vigil's
// VRRP tables have always read those with Decimal, and moving them to Timer's reading would
// change what `vigil -t` says about malformed numbers there.
func (p *Parser) Timer(l Line, i int, minMicros, maxMicros uint64) (d time.Duration, ok, silent bool) {
	s, ok := p.Need(l, i)
	if !ok {
		return 0, false, true
	}
	if maxMicros == 0 {
		maxMicros = TimerMax
	}
	v, ok, silent := p.decimal(l.Pos, s, minMicros, maxMicros, true)
	if !ok {
		return 0, false, silent
	}
	const maxDurMicros = uint64(math.MaxInt64 / int64(time.Microsecond))
	if v > maxDurMicros {
		v = maxDurMicros
	}
	return time.Duration(v) * time.Microsecond, true, false
}

// decimal is Keepalived's read_decimal_unsigned_long_func with six decimal places. ignoreError
// is its argument of that name: the word is then read as strtoull reads it (a leading '+'
// allowed), and silent reports the case where Keepalived would accept the leading digits of a
// malformed word without a further complaint from the keyword.
func (p *Parser) decimal(pos Pos, s string, min, max uint64, ignoreError bool) (v uint64, ok, silent bool) {
	if strings.HasPrefix(s, "-") {
		p.Diags.Warnf(pos, "negative number '%s'", s)
		return 0, false, false
	}
	intPart, frac, _ := strings.Cut(s, ".")
	roundUp := false
	if len(frac) > 6 {
		p.Diags.Warnf(pos, "number '%s' has too many decimal places", s)
		roundUp = frac[6] >= '5'
		frac = frac[:6]
	}
	if ignoreError {
		intPart = strings.TrimPrefix(intPart, "+")
	}
	digits := intPart + frac + strings.Repeat("0", 6-len(frac))
	if ignoreError {
		if n := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); n >= 0 {
			p.Diags.Warnf(pos, "invalid number '%s'", s)
			lead, err := strconv.ParseUint("0"+digits[:n], 10, 64)
			return 0, false, err == nil && lead >= min && lead <= max
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		if isRangeError(err) {
			p.Diags.Warnf(pos, "number '%s' outside unsigned decimal range", s)
		} else {
			p.Diags.Warnf(pos, "invalid number '%s'", s)
		}
		return 0, false, false
	}
	if roundUp {
		v++
	}
	if v < min || v > max {
		p.Diags.Warnf(pos, "number '%s' outside range [%d.%06d, %d.%06d]", s, min/1e6, min%1e6, max/1e6, max%1e6)
		return 0, false, false
	}
	return v, true, false
}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("1.5s"), so
// dump-config output is readable and stable. The model's intervals are Durations.
type Duration time.Duration

// MarshalText writes the duration as "1.5s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Micros turns microseconds (what Decimal returns) into a Duration.
func Micros(v uint64) Duration { return Duration(time.Duration(v) * time.Microsecond) }

// Seconds turns whole seconds into a Duration.
func Seconds(v uint64) Duration { return Duration(time.Duration(v) * time.Second) }
