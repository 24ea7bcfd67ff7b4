package check

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Readers the kinds' keyword tables share, in the words of Keepalived's checker half. Kinds of
// value every section reads (numbers, addresses, durations) are package syntax's.

// maxUint32 is UINT_MAX, the bound Keepalived prints in most of its checker ranges.
const maxUint32 = math.MaxUint32

// optBool reads an optional true/false word after a keyword as syntax.OptBool does, and
// reports a bad word in the checker half's words: "Invalid <what> parameter WORD".
func optBool(p *syntax.Parser, l syntax.Line, what string) (bool, bool) {
	return syntax.OptBool(l, func(w string) { p.Diags.Warnf(l.Pos, "Invalid %s parameter %s", what, w) })
}

// boolKeyword is a keyword that takes an optional true/false word, reported as optBool does.
func boolKeyword(what string, set func(bool)) syntax.Keyword {
	return syntax.Keyword{Scalar: func(p *syntax.Parser, l syntax.Line) {
		if v, ok := optBool(p, l, what); ok {
			set(v)
		}
	}}
}

// unquote takes the quotes off a word the lexer kept them on.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// restOfLine joins the words after the keyword, for scripts and names that may hold spaces.
func restOfLine(l syntax.Line) string {
	if len(l.Words) < 2 {
		return ""
	}
	return strings.Join(l.Words[1:], " ")
}

// cmdStr renders a command line as Keepalived's cmd_str does in messages: each word quoted,
// except a leading redirection.
func cmdStr(cmd string) string {
	words := strings.Fields(cmd)
	for i, w := range words {
		if i > 0 || (!strings.HasPrefix(w, "<") && !strings.HasPrefix(w, ">")) {
			words[i] = "'" + w + "'"
		}
	}
	return strings.Join(words, " ")
}

// Regexp is a regular expression compiled when its line is read, shown by `vigil dump-config`
// as the text it was written as.
type Regexp struct {
	*regexp.Regexp
}

// MarshalText gives the expression's source text.
func (r *Regexp) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// compileRegexp compiles the expression src written on l for keyword, or reports at l why RE2
// cannot: an error, since the check could never run as written.
func compileRegexp(p *syntax.Parser, l syntax.Line, keyword, src string) (*Regexp, bool) {
	re, err := regexp.Compile(src)
	if err != nil {
		p.Diags.Errorf(l.Pos, "%s %q: %v", keyword, src, err)
		return nil, false
	}
	return &Regexp{re}, true
}

// cEscapes reads the escapes of a C string literal in s: \r \n \t \\ \" \' \? \a \b \f \v \e,
// \xHH (one or two hex digits) and \NNN (one to three octal digits). The lexer has taken the
// quotes off; a quote inside is written \x22.
func cEscapes(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		i++
		if i == len(s) {
			return nil, errors.New("a lone \\ at the end")
		}
		switch c := s[i]; c {
		case 'r':
			out = append(out, '\r')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'a':
			out = append(out, '\a')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'v':
			out = append(out, '\v')
		case 'e':
			out = append(out, 0x1b)
		case '\\', '"', '\'', '?':
			out = append(out, c)
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(s) && isHexDigit(s[i+1]) {
				i++
				v = v<<4 | hexValue(s[i])
				n++
			}
			if n == 0 {
				return nil, errors.New("\\x without hex digits")
			}
			out = append(out, byte(v))
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v, n := int(c-'0'), 1
			for n < 3 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7' {
				i++
				v = v<<3 | int(s[i]-'0')
				n++
			}
			if v > 0xff {
				return nil, fmt.Errorf("octal escape \\%o beyond a byte", v)
			}
			out = append(out, byte(v))
		default:
			return nil, fmt.Errorf("unknown escape \\%c", c)
		}
	}
	return out, nil
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}
