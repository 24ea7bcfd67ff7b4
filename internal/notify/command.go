package notify

import (
	"fmt"
	"strings"
)

// SplitCommand splits a script line the way Keepalived does for misc_path, notify and script:
// words are separated by unquoted blanks; ' and " quote (the quote characters are removed, and
// each quote character is literal inside the other); a backslash escapes the next character
// anywhere, with the C escapes \a \b \E \f \n \r \t \v \nnn (octal), \xHH and \cC.
func SplitCommand(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			i++
			if i >= len(line) {
				return nil, fmt.Errorf("command %q: backslash at end of line", line)
			}
			var n int
			var r byte
			r, n = unescape(line[i:])
			word.WriteByte(r)
			i += n - 1
			inWord = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				word.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("command %q: missing terminating %c", line, quote)
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("command %q: no program named", line)
	}
	return words, nil
}

// unescape decodes the escape that starts s (the text after a backslash), returning the byte
// and how many bytes of s it used.
func unescape(s string) (byte, int) {
	isOct := func(c byte) bool { return c >= '0' && c <= '7' }
	hexVal := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	switch c := s[0]; {
	case c == 'x' && len(s) > 1:
		if v, ok := hexVal(s[1]); ok {
			n := 2
			if len(s) > 2 {
				if w, ok := hexVal(s[2]); ok {
					v, n = v<<4|w, 3
				}
			}
			return v, n
		}
		return 'x', 1
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case isOct(c):
		v, n := c-'0', 1
		for n < 3 && n < len(s) && isOct(s[n]) {
			v, n = v<<3|(s[n]-'0'), n+1
		}
		return v, n
	}
	switch s[0] {
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 'E':
		return 0x1b, 1
	case 'f':
		return '\f', 1
	case 'n':
		return '\n', 1
	case 'r':
		return '\r', 1
	case 't':
		return '\t', 1
	case 'v':
		return '\v', 1
	}
	return s[0], 1
}

// NeedsShell reports whether line uses shell syntax outside quotes (pipes, lists, redirection,
// substitution, globbing, variables, comments), so that it must run through /bin/sh -c.
// Keepalived passes such characters to the program as literal arguments, except for a line
// that starts with a redirection; vigil runs those lines through the shell instead, which is
// what their authors meant.
func NeedsShell(line string) bool { return ShellSyntax(line) != "" }

// ShellSyntax names the first shell construct line uses outside quotes ("\"&&\" (a command
// list)", "backquotes (command substitution)"...), or returns "" when it uses none and runs
// without a shell.
func ShellSyntax(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			i++
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case quote == '"':
			// Inside double quotes the shell still expands $ and `; a line that relies on it
			// needs the shell.
			if c == '"' {
				quote = 0
			} else if c == '$' || c == '`' {
				return syntaxAt(line, i)
			}
		case c == '\'' || c == '"':
			quote = c
		case strings.IndexByte("|&;<>()$`*?[#~=\n", c) >= 0:
			if c == '=' && !firstWordAssignment(line, i) {
				continue
			}
			if c == '#' && i > 0 && line[i-1] != ' ' && line[i-1] != '\t' {
				continue // a # inside a word is not a comment
			}
			return syntaxAt(line, i)
		}
	}
	return ""
}

// syntaxAt names the shell construct that starts at line[i], for messages.
func syntaxAt(line string, i int) string {
	var next byte
	if i+1 < len(line) {
		next = line[i+1]
	}
	switch c := line[i]; {
	case c == '&' && next == '&', c == '|' && next == '|':
		return fmt.Sprintf("%q (a command list)", line[i:i+2])
	case c == '$' && next == '(':
		return `"$(" (command substitution)`
	case c == '`':
		return "backquotes (command substitution)"
	case c == '$':
		return `"$" (an expansion)`
	case c == '|':
		return `"|" (a pipeline)`
	case c == '&':
		return `"&" (a background command)`
	case c == ';':
		return `";" (a command list)`
	case c == '\n':
		return "a newline (a command list)"
	case c == '<' || c == '>':
		return fmt.Sprintf("%q (a redirection)", string(c))
	case c == '(' || c == ')':
		return fmt.Sprintf("%q (a subshell)", string(c))
	case c == '#':
		return `"#" (a comment)`
	case c == '~':
		return `"~" (a home directory)`
	case c == '=':
		return "a variable assignment"
	}
	return fmt.Sprintf("%q (a pattern)", string(line[i]))
}

// firstWordAssignment reports whether the '=' at i belongs to a leading VAR=value word, the one
// place where '=' means something to the shell.
func firstWordAssignment(line string, i int) bool {
	start := len(line) - len(strings.TrimLeft(line, " \t"))
	word := line[start:i]
	if strings.ContainsAny(word, " \t") || word == "" {
		return false
	}
	for j, c := range word {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shellQuote quotes s for /bin/sh as Keepalived does when it hands a line to system():
// inside single quotes, with each ' written as '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
