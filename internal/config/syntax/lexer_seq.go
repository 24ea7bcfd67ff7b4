package syntax

import (
	"math"
	"strconv"
	"strings"
)

// Sequence and list blocks: "~SEQ(var, start, step, end) text", "~SEQx(...)" (hexadecimal) and
// "~LST(var, v1, v2...)" / "~LST({a, b}, {1, 2}, {3, 4})" replicate the rest of the line, as in
// Keepalived's add_seq and add_lst. A sequence written inside another's text nests.

// seqBlock is one pending ~SEQ or ~LST. Rounds are counted rather than compared with the end
// value, so no overflow can make a sequence endless.
type seqBlock struct {
	text string
	// ~SEQ
	variable string
	next     int64
	step     int64
	left     uint64 // rounds still to produce
	hex      bool
	// ~LST
	params []string
	values [][]string
}

// seqSpecError is Keepalived's complaint after a failed ~SEQ or ~LST.
func (lx *lexer) seqSpec(buf string) {
	if strings.HasPrefix(buf, "~SEQ") {
		if !lx.addSeq(buf) {
			lx.diags.Warnf(lx.pos(), "Invalid ~SEQ specification '%s'", clip(buf))
		}
		return
	}
	if !lx.addList(buf) {
		lx.diags.Warnf(lx.pos(), "Invalid ~LST specification '%s'", clip(buf))
	}
}

// strtol reads an integer like C's strtol(s, &end, 0): leading white space, a sign, then a
// hexadecimal (0x), octal (leading 0) or decimal number. It returns the value, clamped on
// overflow, and the index after it (0 when there is no number).
func strtol(s string) (int64, int) {
	i := 0
	for i < len(s) && strings.IndexByte(wordSpace, s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	if i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && hexDigit(s[i+2]) >= 0 {
		base = 16
		i += 2
	} else if i < len(s) && s[i] == '0' {
		base = 8
	}
	start := i
	var v uint64
	over := false
	for i < len(s) {
		d := hexDigit(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			over = true
		} else {
			v = v*base + uint64(d)
		}
		i++
	}
	if i == start {
		return 0, 0
	}
	switch {
	case neg && (over || v > 1<<63):
		return math.MinInt64, i
	case neg:
		return -int64(v), i
	case over || v > math.MaxInt64:
		return math.MaxInt64, i
	}
	return int64(v), i
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func skipBlanks(s string, i int) int {
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return i
}

// at returns s[i], or 0 past the end (C's terminating NUL).
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// addSeq reads "~SEQ(var, [start,] [step,] end) text". It reports false for a malformed
// specification (after its own message where Keepalived gives one).
func (lx *lexer) addSeq(buf string) bool {
	p := 4
	hex := false
	if at(buf, p) == 'x' {
		hex = true
		p++
	}
	p = skipBlanks(buf, p)
	if at(buf, p) != '(' {
		return false
	}
	p = skipBlanks(buf, p+1)
	v := p
	for p < len(buf) && !strings.ContainsRune(" \t,)", rune(buf[p])) {
		p++
	}
	variable := buf[v:p]
	p = skipBlanks(buf, p)
	if p >= len(buf) || buf[p] == ')' || p == v {
		lx.diags.Warnf(lx.pos(), "Invalid ~SEQ definition '%s'", clip(buf))
		return false
	}
	p = skipBlanks(buf, p+1)
	e := strings.IndexByte(buf[p:], ')')
	if e < 0 {
		lx.diags.Warnf(lx.pos(), "Invalid ~SEQ definition '%s'", clip(buf))
		return false
	}
	end := p + e
	// Keepalived copies the numbers to a 64-byte buffer before substituting definitions in them.
	if end+1-p+1 > 64 {
		lx.diags.Warnf(lx.pos(), "~SEQ parameter strings too long '%s'", clip(buf))
		return false
	}
	nums := buf[p : end+1]
	if strings.IndexByte(nums, '$') >= 0 {
		r, ml, _, ok := lx.replaceParams(nums, mlState{})
		if !ok {
			return false
		}
		if ml.active {
			lx.diags.Warnf(lx.pos(), "~SEQ parameter is multiline definition '%s'", clip(buf))
			return false
		}
		nums = r
	}

	var start, step, last int64
	one, n := strtol(nums)
	q := skipBlanks(nums, n)
	switch {
	case at(nums, q) == ')':
		last = one
		step, start = 1, 1
		if last < 1 {
			step = -1
		}
		if last < 0 {
			start = -1
		}
	case at(nums, q) != ',':
		lx.diags.Warnf(lx.pos(), "Invalid ~SEQ definition '%s'", clip(buf))
		return false
	default:
		two, n := strtol(nums[q+1:])
		q = skipBlanks(nums, q+1+n)
		switch at(nums, q) {
		case ')':
			start, last = one, two
			step = 1
			if start > last {
				step = -1
			}
		case ',':
			three, n := strtol(nums[q+1:])
			q = skipBlanks(nums, q+1+n)
			if at(nums, q) != ')' {
				lx.diags.Warnf(lx.pos(), "Invalid ~SEQ definition '%s'", clip(buf))
				return false
			}
			start, step, last = one, two, three
			if step == 0 || (start < last && step < 0) || (start > last && step > 0) {
				lx.diags.Warnf(lx.pos(), "Invalid ~SEQ values '%s'", clip(buf))
				return false
			}
		default:
			lx.diags.Warnf(lx.pos(), "Invalid ~SEQ definition '%s'", clip(buf))
			return false
		}
	}
	if hex && (start < 0 || last < 0) {
		lx.diags.Warnf(lx.pos(), "~SEQx is only valid for positive numbers '%s'", clip(buf))
		return false
	}

	// Rounds: start, start+step... while not past last; at least one.
	var rounds uint64 = 1
	if step > 0 && last > start {
		rounds = (uint64(last)-uint64(start))/uint64(step) + 1
	} else if step < 0 && last < start {
		rounds = (uint64(start)-uint64(last))/(uint64(-(step+1))+1) + 1
	}
	if rounds == 0 || rounds > uint64(lx.remaining()) {
		lx.diags.Errorf(lx.pos(), "~SEQ would produce %s lines, more than the limit of %d lines; the rest is ignored: '%s'", roundsText(rounds), lx.maxLines, clip(buf))
		lx.stopped = true
		return true
	}
	text := buf[skipBlanks(buf, end+1):]
	lx.seqs = append(lx.seqs, &seqBlock{text: text, variable: variable, next: start, step: step, left: rounds, hex: hex})
	return true
}

func roundsText(r uint64) string {
	if r == 0 {
		return "2^64"
	}
	return strconv.FormatUint(r, 10)
}

// addList reads "~LST(var, v1, v2...) text" or "~LST({a, b}, {1, 2}, {3}) text".
func (lx *lexer) addList(buf string) bool {
	s := &seqBlock{}
	p := skipBlanks(buf, 4)
	if at(buf, p) != '(' {
		return false
	}
	p = skipBlanks(buf, p+1)
	endChar := byte(',')
	if at(buf, p) == '{' {
		endChar = '}'
		p = skipBlanks(buf, p+1)
	}
	numVars := 0
	for {
		v := p
		for p < len(buf) && !strings.ContainsRune(" \t,}", rune(buf[p])) {
			p++
		}
		s.params = append(s.params, buf[v:p])
		p = skipBlanks(buf, p)
		if at(buf, p) == endChar {
			break
		}
		if at(buf, p) != ',' {
			return false
		}
		p = skipBlanks(buf, p+1)
		numVars++
	}
	if at(buf, p) == '}' {
		p = skipBlanks(buf, p+1)
	}
	if at(buf, p) != ',' {
		return false
	}
	p = skipBlanks(buf, p+1)
	for {
		endChar = ','
		if at(buf, p) == '{' {
			endChar = '}'
			p = skipBlanks(buf, p+1)
		}
		var set []string
		numValues := 0
		for {
			v := p
			for p < len(buf) && !strings.ContainsRune(" \t,})", rune(buf[p])) {
				p++
			}
			set = append(set, buf[v:p])
			p = skipBlanks(buf, p)
			if c := at(buf, p); c == endChar || (c == ')' && endChar == ',') {
				break
			}
			if at(buf, p) != ',' {
				return false
			}
			p = skipBlanks(buf, p+1)
			numValues++
			if numValues > numVars {
				lx.diags.Warnf(lx.pos(), "~LST specification has too many values '%s'", clip(buf))
				return false
			}
		}
		for ; numValues < numVars; numValues++ {
			set = append(set, "")
		}
		s.values = append(s.values, set)
		if at(buf, p) == '}' && endChar == '}' {
			p = skipBlanks(buf, p+1)
		}
		if at(buf, p) == ')' {
			break
		}
		if at(buf, p) != ',' {
			return false
		}
		p = skipBlanks(buf, p+1)
	}
	if len(s.values) > lx.remaining() {
		lx.diags.Errorf(lx.pos(), "~LST would produce %d lines, more than the limit of %d lines; the rest is ignored", len(s.values), lx.maxLines)
		lx.stopped = true
		return true
	}
	s.text = buf[skipBlanks(buf, p+1):]
	s.left = uint64(len(s.values))
	lx.seqs = append(lx.seqs, s)
	return true
}

// stepSeq produces the next line of the innermost pending sequence, setting its variables.
func (lx *lexer) stepSeq() string {
	s := lx.seqs[len(lx.seqs)-1]
	if s.params != nil {
		set := s.values[len(s.values)-int(s.left)]
		for i, name := range s.params {
			// Keepalived walks the values with the parameters; a set has one value per
			// parameter (missing ones are blank), so i is always in range.
			lx.setDefinition(name, set[i])
		}
	} else {
		var val string
		if s.hex {
			val = strconv.FormatUint(uint64(s.next), 16)
		} else {
			val = strconv.FormatInt(s.next, 10)
		}
		lx.setDefinition(s.variable, val)
		s.next += s.step
	}
	s.left--
	if s.left == 0 {
		lx.seqs = lx.seqs[:len(lx.seqs)-1]
	}
	return s.text
}
