package syntax

import (
	"bufio"
	"errors"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// include PATTERN and its variants includer, includem, includew, includeb and includea, as in
// Keepalived's check_include, open_and_check_glob and check_glob_file. The pattern is a glob
// with csh braces, relative to the directory of the including file. Plain include reports its
// problems as warnings; each variant makes some of them errors (the man page's include_check).

// includeKind holds which include problems are errors.
type includeKind uint8

const (
	includeRead     includeKind = 1 << iota // a match is a directory, unreadable...
	includeMatch                            // nothing matches a pattern without wildcards
	includeWildcard                         // nothing matches at all
	includeBrace                            // some brace alternative matches nothing
)

// maxBraceExpansions bounds the patterns one include's braces expand to.
const maxBraceExpansions = 1024

// includeGlob is one include being read: the files it matched and which is next.
type includeGlob struct {
	pattern string
	kind    includeKind
	matches []globMatch
	next    int
	pos     Pos
}

// globMatch is one file an include matched: as glob names it (relative to the including
// file's directory, with '/' after a directory) and as it is opened.
type globMatch struct {
	display string
	path    string
}

func isCSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }

// checkInclude starts reading the files of an include line; it reports whether buf was one.
func (lx *lexer) checkInclude(buf string) bool {
	if !strings.HasPrefix(buf, "include") || len(buf) == 7 {
		return false
	}
	var kind includeKind
	p := 8
	switch {
	case isCSpace(buf[7]):
	case len(buf) > 8 && isCSpace(buf[8]) && strings.IndexByte("rmwba", buf[7]) >= 0:
		p = 9
		switch buf[7] {
		case 'r':
			kind = includeRead
		case 'm':
			kind = includeRead | includeMatch
		case 'w':
			kind = includeRead | includeMatch | includeWildcard
		case 'b':
			kind = includeRead | includeBrace
		case 'a':
			kind = includeRead | includeMatch | includeBrace | includeWildcard
		}
	default:
		return false
	}
	lx.include(strings.TrimLeft(buf[p:], " \t"), kind)
	return true
}

// report records an include problem: an error when kind makes problems of type t errors.
func (lx *lexer) report(kind, t includeKind, pos Pos, format string, args ...any) {
	if kind&t != 0 {
		lx.diags.Errorf(pos, format, args...)
	} else {
		lx.diags.Warnf(pos, format, args...)
	}
}

func (lx *lexer) include(pattern string, kind includeKind) {
	pos := lx.pos()
	if len(lx.files) >= maxIncludeDepth {
		lx.diags.Errorf(pos, "include '%s': includes nested deeper than %d: %s", pattern, maxIncludeDepth, lx.chain(""))
		return
	}
	base := lx.files[len(lx.files)-1].dir
	g := globInclude(base, pattern)
	if g.truncated {
		lx.diags.Warnf(pos, "include '%s': braces expand to more than %d patterns; the rest are ignored", pattern, maxBraceExpansions)
	}
	if len(g.matches) == 0 {
		if g.missing > 0 {
			t := includeMatch
			if hasBrace(pattern) {
				t = includeBrace
			}
			lx.report(kind, t, pos, "Config files missing '%s'.", pattern)
		} else if g.wildcards && kind&includeWildcard != 0 {
			lx.report(kind, includeWildcard, pos, "No config files matched '%s'.", pattern)
		}
		return
	}
	if g.missing > 0 {
		lx.report(kind, includeBrace, pos, "Some config files missing: \"%s\".", pattern)
		if kind&includeBrace != 0 {
			return
		}
	}
	inc := &includeGlob{pattern: pattern, kind: kind, matches: g.matches, pos: pos}
	lx.openNext(inc, false)
}

// openNext opens the next readable match of inc, as a new innermost file or, when replace is
// set, in place of the innermost file (its sibling from the same include). It reports whether
// a file was opened.
func (lx *lexer) openNext(inc *includeGlob, replace bool) bool {
	for inc.next < len(inc.matches) {
		m := inc.matches[inc.next]
		inc.next++
		if strings.HasSuffix(m.display, "/") {
			lx.report(inc.kind, includeRead, inc.pos, "Configuration file '%s' is a directory - skipping", m.display)
			continue
		}
		f, info, err := openConfigFile(m.path)
		if err != nil {
			if errors.Is(err, errNotRegular) {
				lx.report(inc.kind, includeRead, inc.pos, "Configuration file '%s' is not a regular non-executable file - skipping", m.display)
			} else {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				lx.report(inc.kind, includeRead, inc.pos, "Configuration file '%s' open problem (%v) - skipping", m.display, err)
			}
			continue
		}
		ancestors := lx.files
		if replace {
			ancestors = ancestors[:len(ancestors)-1]
		}
		loop := false
		for _, a := range ancestors {
			if a.info != nil && os.SameFile(a.info, info) {
				loop = true
				break
			}
		}
		if loop {
			f.Close()
			lx.diags.Errorf(inc.pos, "include loop: %s", lx.chainTo(ancestors, m.path))
			continue
		}
		of := &openFile{name: m.path, dir: filepath.Dir(m.path), info: info, r: bufio.NewReader(f), c: f, inc: inc}
		if replace {
			lx.files[len(lx.files)-1] = of
		} else {
			lx.files = append(lx.files, of)
		}
		return true
	}
	return false
}

// endFile closes the innermost file and goes on with the next file of its include, or with the
// file that included it.
func (lx *lexer) endFile() {
	n := len(lx.files)
	f := lx.files[n-1]
	lx.lastPos = Pos{File: f.name, Line: f.line}
	if f.c != nil {
		f.c.Close()
	}
	if f.inc != nil && lx.openNext(f.inc, true) {
		return
	}
	lx.files = lx.files[:n-1]
}

// chain names the include chain from the top file to the innermost one, then to next.
func (lx *lexer) chain(next string) string { return lx.chainTo(lx.files, next) }

func (lx *lexer) chainTo(files []*openFile, next string) string {
	var b strings.Builder
	for i, f := range files {
		if i > 0 {
			b.WriteString(" includes ")
		}
		b.WriteString(Pos{File: f.name, Line: f.line}.String())
	}
	if next != "" {
		b.WriteString(" includes ")
		b.WriteString(next)
	}
	return b.String()
}

// hasBrace reports an unescaped '{'.
func hasBrace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		} else if s[i] == '{' {
			return true
		}
	}
	return false
}

// globResult is what glob found for an include, with what Keepalived's glob hooks count:
// directories that could not be opened and names that do not exist (missing), and whether any
// directory was searched for a wildcard.
type globResult struct {
	matches   []globMatch
	missing   int
	wildcards bool
	truncated bool
}

// globInclude expands pattern relative to base the way glibc's glob(GLOB_MARK|GLOB_BRACE) does
// for Keepalived: brace alternatives in order, the matches of each sorted, directories marked
// with a trailing '/', names starting with '.' matched only by a literal '.'.
func globInclude(base, pattern string) globResult {
	var r globResult
	var alts []string
	alts, r.truncated = expandBraces(pattern, nil)
	for _, alt := range alts {
		found := globPattern(base, alt, &r)
		sort.Strings(found)
		for _, m := range found {
			p := m
			if !filepath.IsAbs(p) {
				p = filepath.Join(base, p)
			}
			r.matches = append(r.matches, globMatch{display: m, path: filepath.Clean(p)})
		}
	}
	return r
}

// expandBraces expands csh braces: "a{b,c{d,e}}f" is "abf", "acdf", "acef". A brace without
// its closing pair is literal, as in glibc.
func expandBraces(p string, out []string) ([]string, bool) {
	open := -1
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' {
			i++
		} else if p[i] == '{' {
			open = i
			break
		}
	}
	if open < 0 {
		if len(out) >= maxBraceExpansions {
			return out, true
		}
		return append(out, p), false
	}
	depth := 0
	var commas []int
	closeAt := -1
	for i := open + 1; i < len(p) && closeAt < 0; i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			if depth == 0 {
				closeAt = i
			} else {
				depth--
			}
		case ',':
			if depth == 0 {
				commas = append(commas, i)
			}
		}
	}
	if closeAt < 0 {
		if len(out) >= maxBraceExpansions {
			return out, true
		}
		return append(out, p), false
	}
	prefix, suffix := p[:open], p[closeAt+1:]
	start := open + 1
	for _, end := range append(commas, closeAt) {
		var trunc bool
		out, trunc = expandBraces(prefix+p[start:end]+suffix, out)
		if trunc {
			return out, true
		}
		start = end + 1
	}
	return out, false
}

// hasMeta reports an unescaped glob wildcard.
func hasMeta(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// matchName is fnmatch with FNM_PERIOD for one path element.
func matchName(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") && !strings.HasPrefix(pattern, "\\.") {
		return false
	}
	pattern = strings.ReplaceAll(pattern, "[!", "[^")
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// globPattern expands one brace-free pattern. Literal elements before the first wildcard are
// taken as they are; after it, and for the last element, each name is checked to exist.
func globPattern(base, pattern string, r *globResult) []string {
	if pattern == "" {
		r.missing++
		return nil
	}
	fsPath := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	var cands []string
	rest := pattern
	if strings.HasPrefix(pattern, "/") {
		cands = []string{"/"}
		rest = strings.TrimLeft(pattern, "/")
	} else {
		cands = []string{""}
	}
	elems := strings.Split(rest, "/")
	// Drop empty elements from "a//b" or a trailing '/'.
	kept := elems[:0]
	for _, e := range elems {
		if e != "" {
			kept = append(kept, e)
		}
	}
	elems = kept
	if len(elems) == 0 {
		return []string{pattern}
	}
	join := func(dir, name string) string {
		if dir == "" {
			return name
		}
		if strings.HasSuffix(dir, "/") {
			return dir + name
		}
		return dir + "/" + name
	}
	sawMeta := false
	for i, e := range elems {
		last := i == len(elems)-1
		var next []string
		if hasMeta(e) {
			sawMeta = true
			r.wildcards = true
			for _, c := range cands {
				dir := c
				if dir == "" {
					dir = "."
				}
				ents, err := os.ReadDir(fsPath(dir))
				if err != nil {
					r.missing++
					continue
				}
				for _, ent := range ents {
					if !matchName(e, ent.Name()) {
						continue
					}
					p := join(c, ent.Name())
					if !last {
						if st, err := os.Stat(fsPath(p)); err != nil || !st.IsDir() {
							continue
						}
					}
					next = append(next, p)
				}
			}
		} else {
			name := unescape(e)
			for _, c := range cands {
				p := join(c, name)
				if last || sawMeta {
					if _, err := os.Lstat(fsPath(p)); err != nil {
						r.missing++
						continue
					}
				}
				next = append(next, p)
			}
		}
		cands = next
		if len(cands) == 0 {
			return nil
		}
	}
	for i, c := range cands {
		if st, err := os.Stat(fsPath(c)); err == nil && st.IsDir() {
			cands[i] = c + "/"
		}
	}
	return cands
}
