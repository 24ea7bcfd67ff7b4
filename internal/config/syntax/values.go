package syntax

import (
	"math"
	"strconv"
	"strings"
)

// The value readers: one per kind of value, each reporting what Keepalived's reader of that
// kind reports, word for word, because `vigil -t` output is compared with `keepalived -t`
// output. Keepalived reports a bad value in two lines: first the reader's complaint ("number
// '0' outside range [1, 255]"), then the keyword's own ("(VI_1) Priority not valid! ..."). These
// readers emit the first line; the keyword handler emits the second, so both land on the line at
// fault. Every section's tables use these readers: Keepalived's VRRP and checker halves share
// theirs (lib/parser.c), and the one argument that tells their calls apart, ignore_error, is the
// difference between Decimal and Timer (values_decimal.go).

// Need returns word i of l. A missing word is fatal in Keepalived (it exits with this message),
// so it is an Error here.
func (p *Parser) Need(l Line, i int) (string, bool) {
	if i < len(l.Words) {
		return l.Words[i], true
	}
	if i > 0 && i-1 < len(l.Words) {
		p.Diags.Errorf(l.Pos, "*** Configuration line starting `%s` is missing a parameter after keyword `%s` at word position %d",
			l.Words[0], l.Words[i-1], i+1)
	} else {
		p.Diags.Errorf(l.Pos, "*** Configuration line starting `%s` is missing a parameter at word position %d", l.Words[0], i+1)
	}
	return "", false
}

// Unsigned reads s as Keepalived's read_unsigned does: a decimal integer in [min, max] (min and
// max within 32 bits).
func (p *Parser) Unsigned(pos Pos, s string, min, max uint64) (uint64, bool) {
	t := strings.TrimLeft(s, " \t")
	if strings.HasPrefix(t, "-") {
		p.Diags.Warnf(pos, "negative number '%s'", s)
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(t, "+"), 10, 64)
	if err != nil {
		if isRangeError(err) {
			p.Diags.Warnf(pos, "number '%s' outside unsigned integer range", s)
			return 0, false
		}
		p.Diags.Warnf(pos, "invalid number '%s'", s)
		return 0, false
	}
	if v > math.MaxUint32 {
		p.Diags.Warnf(pos, "number '%s' outside unsigned integer range", s)
		return 0, false
	}
	if v < min || v > max {
		p.Diags.Warnf(pos, "number '%s' outside range [%d, %d]", s, min, max)
		return 0, false
	}
	return v, true
}

// Int reads s as Keepalived's read_int does: a decimal integer in [min, max] (within 32 bits),
// leading blanks skipped as strtol skips them (a quoted word may start with blanks).
func (p *Parser) Int(pos Pos, s string, min, max int64) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimLeft(s, " \t"), 10, 64)
	if err != nil {
		if isRangeError(err) {
			p.Diags.Warnf(pos, "number '%s' outside integer range", s)
			return 0, false
		}
		p.Diags.Warnf(pos, "invalid number '%s'", s)
		return 0, false
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		p.Diags.Warnf(pos, "number '%s' outside integer range", s)
		return 0, false
	}
	if v < min || v > max {
		p.Diags.Warnf(pos, "number '%s' outside range [%d, %d]", s, min, max)
		return 0, false
	}
	return v, true
}

// isRangeError reports whether a strconv error is about the size of the number rather than
// its spelling.
func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}
