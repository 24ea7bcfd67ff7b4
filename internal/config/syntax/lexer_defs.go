package syntax

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Parameter definitions ($NAME=VALUE) and their substitution, as in Keepalived's
// check_definition, find_definition and replace_param.

// maxSubstitutions bounds the replacements made in one line, so that a definition that refers to
// itself without growing ($A=$A), on which Keepalived loops for ever, is reported instead.
const maxSubstitutions = 1000

// definition is one $NAME. A multiline value holds '\n' between its lines.
type definition struct {
	name      string
	value     string
	multiline bool
	// fn computes the value of a predefined name (${_PWD}, ${_RANDOM}...) each time it is used;
	// params is the text of "${_RANDOM 1 5}" after the name.
	fn        func(params string) string
	maxParams int
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isNameChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '_'
}

// addStdDefinitions installs the predefined names of the man page's "Pre-defined definitions".
func (lx *lexer) addStdDefinitions() {
	lx.defs["_PWD"] = &definition{name: "_PWD", fn: func(string) string { return lx.currentDir() }}
	lx.defs["_INSTANCE"] = &definition{name: "_INSTANCE", fn: func(string) string { return lx.configID }}
	lx.defs["_RANDOM"] = &definition{name: "_RANDOM", fn: lx.random, maxParams: 2}
	lx.defs["_ENV"] = &definition{name: "_ENV", fn: lx.env, maxParams: 1}
	lx.defs["_HASH"] = &definition{name: "_HASH", value: "#"}
	lx.defs["_BANG"] = &definition{name: "_BANG", value: "!"}
}

// env is ${_ENV NAME} (Keepalived 2.4): the value of the environment variable NAME, empty
// when it is not set (Keepalived's too), with a warning since the line then says something else.
func (lx *lexer) env(params string) string {
	name := strings.TrimSpace(params)
	if name == "" || strings.ContainsAny(name, " \t") {
		lx.diags.Warnf(lx.pos(), "${_ENV %s} needs one environment variable name", params)
		return ""
	}
	v, ok := lx.getenv(name)
	if !ok {
		lx.diags.Warnf(lx.pos(), "${_ENV %s}: environment variable %s is not set; it reads as empty", name, name)
	}
	return v
}

// random is ${_RANDOM [MIN [MAX]]}: an integer in [MIN, MAX], by default [0, 32767].
func (lx *lexer) random(params string) string {
	lo, hi := uint64(0), uint64(32767)
	if params != "" {
		f := strings.Fields(params)
		lo, _ = strconv.ParseUint(f[0], 10, 64)
		if len(f) > 1 {
			hi, _ = strconv.ParseUint(f[1], 10, 64)
		}
		if len(f) > 2 {
			lx.diags.Warnf(lx.pos(), "Too many parameters or extra text for ${_RANDOM %s}", params)
		}
	}
	if hi < lo {
		lx.diags.Warnf(lx.pos(), "${_RANDOM %s}: maximum is less than minimum, using %d", params, lo)
		return strconv.FormatUint(lo, 10)
	}
	if hi-lo == ^uint64(0) {
		return strconv.FormatUint(rand.Uint64(), 10)
	}
	return strconv.FormatUint(lo+rand.Uint64N(hi-lo+1), 10)
}

// checkDefinition reads "$NAME=VALUE" (no blank before '='; blanks after it are skipped). A
// value ending in '\' starts a multiline definition whose further lines lx collects. It reports
// whether buf was a definition.
func (lx *lexer) checkDefinition(buf string) bool {
	if len(buf) < 2 || buf[0] != '$' || !(isAlpha(buf[1]) || buf[1] == '_') {
		return false
	}
	eq := -1
	for i := 2; i < len(buf); i++ {
		if buf[i] == '=' {
			eq = i
			break
		}
		if !isNameChar(buf[i]) {
			return false
		}
	}
	if eq < 0 {
		return false
	}
	name := buf[1:eq]
	value := strings.TrimLeft(buf[eq+1:], " \t")
	d := lx.defs[name]
	if d == nil {
		d = &definition{name: name}
		lx.defs[name] = d
	}
	d.fn = nil // a predefined name can be overridden
	d.multiline = false
	if strings.HasSuffix(value, "\\") {
		value = trimRightBlanks(value[:len(value)-1])
		if value != "" {
			value += "\n"
		}
		d.multiline = true
		lx.collecting = d
	}
	d.value = value
	return true
}

// setDefinition sets name to value, as a ~SEQ or ~LST variable does on each round.
func (lx *lexer) setDefinition(name, value string) {
	d := lx.defs[name]
	if d == nil {
		d = &definition{name: name}
		lx.defs[name] = d
	}
	d.fn = nil
	d.multiline = false
	d.value = value
}

// collectDefinitionLine adds one line to the multiline definition being collected.
func (lx *lexer) collectDefinitionLine(buf string) {
	d := lx.collecting
	more := strings.HasSuffix(buf, "\\")
	if more {
		buf = trimRightBlanks(buf[:len(buf)-1]) + "\n"
	} else {
		lx.collecting = nil
		if d.value == "" {
			d.multiline = false
		}
	}
	// Blank lines are not added.
	if len(buf) >= 2 || (buf != "" && !more) {
		d.value += buf
	}
}

// endCollecting ends a multiline definition at a blank line.
func (lx *lexer) endCollecting() {
	if d := lx.collecting; d != nil {
		lx.collecting = nil
		if d.value == "" {
			d.multiline = false
		}
	}
}

// findDefinition looks at s, the text after a '$', for a defined name: NAME followed by a blank,
// ',', ')' or the end of the line, or {NAME} anywhere, or {NAME params} for a name that takes
// parameters. A multiline definition is only used at the end of a line. span is the length of
// the reference after the '$'.
func (lx *lexer) findDefinition(s string) (d *definition, span int, params string) {
	braces := false
	i := 0
	if s[0] == '{' {
		braces = true
		i = 1
	}
	if i >= len(s) || !(isAlpha(s[i]) || s[i] == '_') {
		return nil, 0, ""
	}
	start := i
	for i++; i < len(s) && isNameChar(s[i]); i++ {
	}
	name := s[start:i]
	// ${_ENV NAME} takes a variable's name; every other parameter is a number (${_RANDOM 1 5}).
	paramChar := isDigit
	if name == "_ENV" {
		paramChar = isNameChar
	}
	if braces {
		ps, pe := -1, -1
		for ; i < len(s) && (s[i] == ' ' || paramChar(s[i])); i++ {
			if s[i] != ' ' {
				if ps < 0 {
					ps = i
				}
				pe = i
			}
		}
		if ps >= 0 && pe+1 != i {
			return nil, 0, ""
		}
		if i >= len(s) || s[i] != '}' {
			return nil, 0, ""
		}
		if ps >= 0 {
			params = s[ps : pe+1]
		}
		span = i + 1
	} else {
		if i < len(s) && !strings.ContainsRune(" \t,)", rune(s[i])) {
			return nil, 0, ""
		}
		span = i
	}
	d = lx.defs[name]
	if d == nil {
		return nil, 0, ""
	}
	if d.multiline && span != len(s) {
		return nil, 0, ""
	}
	if params != "" && d.maxParams == 0 {
		return nil, 0, ""
	}
	return d, span, params
}

// replaceParams substitutes defined names in buf, rescanning each replacement so that values
// referring to other names are expanded too. A multiline definition contributes its first line
// here; the rest are queued as the lines that follow. It reports whether anything was replaced;
// ok is false when the line had to be given up (Keepalived's line-length limit, or a recursive
// definition).
func (lx *lexer) replaceParams(buf string, ml mlState) (out string, next mlState, found, ok bool) {
	cur := 0
	mlPtr := ml
	next = ml
	for {
		j := strings.IndexByte(buf[cur:], '$')
		if j < 0 {
			break
		}
		cur += j
		if cur+1 >= len(buf) {
			break
		}
		d, span, params := lx.findDefinition(buf[cur+1:])
		if d == nil {
			cur++
			continue
		}
		lx.substitutions++
		if lx.substitutions > maxSubstitutions {
			lx.diags.Errorf(lx.pos(), "parameter substitution did not end after %d replacements (a definition refers to itself?): '%s'", maxSubstitutions, clip(buf))
			return buf, ml, found, false
		}
		found = true
		next = mlPtr
		if d.multiline && mlPtr.active {
			lx.mlStack = append(lx.mlStack, mlEntry{text: mlPtr.text, seqDepth: lx.mlSeqDepth})
		}
		if d.multiline {
			lx.mlSeqDepth = len(lx.seqs)
		}
		value := d.value
		if d.fn != nil {
			value = d.fn(params)
		}
		repl := value
		if d.multiline {
			if k := strings.IndexByte(value, '\n'); k >= 0 {
				repl = value[:k]
				next = mlState{text: value[k+1:], active: true}
			} else {
				next = mlState{active: true}
			}
			mlPtr = next
		}
		if len(buf)-(span+1)+len(repl) > keepalivedMaxLine {
			lx.diags.Warnf(lx.pos(), "Parameter substitution on line '%s' would exceed maximum line length", clip(buf))
			return buf, ml, false, true
		}
		buf = buf[:cur] + repl + buf[cur+1+span:]
		if t := strings.TrimLeft(value, " \t"); t != "" && t[0] == '~' {
			break
		}
	}
	if !found {
		next = ml
	}
	return buf, next, found, true
}

// clip shortens text quoted in a diagnostic.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
