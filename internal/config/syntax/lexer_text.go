package syntax

import "strings"

// Text rules of Keepalived's reader (lib/parser.c): what a comment is, where a line is split at
// braces, and how a line is cut into words. Each function works on one line of text.

// keepalivedMaxLine is the longest line Keepalived reads at once (MAXBUF - 1). It splits longer
// physical lines, and refuses a parameter substitution that would make a line this long.
const keepalivedMaxLine = 1023

// wordSpace is the set of characters that separate words (C's " \t\f\n\r\v").
const wordSpace = " \t\f\n\r\v"

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isWordSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }

func trimRightBlanks(s string) string {
	n := len(s)
	for n > 0 && isBlank(s[n-1]) {
		n--
	}
	return s[:n]
}

func trimLeftBlanks(s string) string {
	i := 0
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return s[i:]
}

// hasCommentChars reports a character decomment acts on.
func hasCommentChars(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '!', '#', '"', '\\':
			return true
		}
	}
	return false
}

// decomment removes a comment, the escaping of '\#' and '\!', and leading and trailing blanks.
// A comment starts at the first '!' or '#' outside double quotes (single quotes do not protect
// them). A '\' ending the line marks a continuation and is kept, with the blanks before it
// removed. unterminated reports a double quote left open.
func decomment(s string) (out string, unterminated bool) {
	s = trimLeftBlanks(s)
	if !hasCommentChars(s) {
		return trimRightBlanks(s), false
	}
	var b []byte // allocated only when an escape is removed
	quote := false
	cont := false
	skip := -1 // index in the output where the comment starts
	n := 0     // length of the output so far when b != nil
	emit := func(i int) {
		if b != nil {
			b = append(b, s[i])
		}
		n++
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			if skip < 0 {
				quote = !quote
			}
			emit(i)
		case c == '\\':
			if i+1 == len(s) {
				cont = true
				i = len(s)
				continue
			}
			if !quote && (s[i+1] == '#' || s[i+1] == '!') {
				if b == nil {
					b = append(make([]byte, 0, len(s)), s[:i]...)
				}
				b = append(b, s[i+1])
				n++
				i++
				continue
			}
			emit(i)
			emit(i + 1)
			i++
		case c == '!' || c == '#':
			if !quote && skip < 0 {
				skip = n
			}
			emit(i)
		default:
			emit(i)
		}
	}
	if b != nil {
		out = string(b)
	} else {
		out = s[:n]
	}
	if skip >= 0 {
		out = out[:skip]
	}
	out = trimRightBlanks(out)
	if cont {
		out += "\\"
	}
	return out, quote
}

// splitWords cuts one brace-free segment into words the way Keepalived's alloc_strvec does: a
// word that starts with '"' runs to the next '"' (which is dropped, with no escapes), any other
// word runs to white space or a '"'. unmatched reports a '"' without its pair; the words before
// it are returned and the rest of the segment is lost, as in Keepalived.
func splitWords(s string, words []string) (out []string, unmatched bool) {
	i := 0
	for {
		for i < len(s) && isWordSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return words, false
		}
		if s[i] == '"' {
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return words, true
			}
			words = append(words, s[i+1:i+1+j])
			i += j + 2
			continue
		}
		start := i
		for i < len(s) && s[i] != '"' && !isWordSpace(s[i]) {
			i++
		}
		words = append(words, s[start:i])
	}
}

// splitBrace finds where Keepalived cuts a line at a brace: a line that starts with a brace is cut
// after it (and the blanks that follow), any other line before its first brace outside double
// quotes. head is the part to use now, rest the part read as the next line ("" for none), found
// at index restAt of s; both have trailing blanks removed.
func splitBrace(s string) (head string, restAt int, rest string) {
	p := 0
	if s[0] != '{' && s[0] != '}' {
		p = -1
		for i := 0; i < len(s); {
			j := strings.IndexAny(s[i:], "{}\"")
			if j < 0 {
				break
			}
			i += j
			if s[i] != '"' {
				p = i
				break
			}
			k := strings.IndexByte(s[i+1:], '"')
			if k < 0 {
				break
			}
			i += k + 2
		}
	}
	if p >= 0 {
		skip := 0
		if p == 0 {
			skip = 1
			for skip < len(s) && isBlank(s[skip]) {
				skip++
			}
		}
		if p+skip < len(s) {
			restAt = p + skip
			rest = trimRightBlanks(s[restAt:])
			s = s[:restAt]
		}
	}
	return trimRightBlanks(s), restAt, rest
}
