//go:build ignore

// gen lists the keywords of Keepalived's manual, keepalived.conf(5), with the blocks they sit
// in, from the manual's source (doc/man/man5/keepalived.conf.5.in in Keepalived's repository):
//
//	git -C keepalived show v2.4.3:doc/man/man5/keepalived.conf.5.in | go run gen.go > keywords-2.4.3.txt
//
// Each output line is "BLOCK/.../KEYWORD<TAB>EXAMPLE": the path of blocks (empty at the top
// level), the keyword, and the manual's example line for it with its markup removed, which
// the coverage test (keywords_manual_test.go) feeds to vigil inside the same blocks. A keyword
// is a word set in bold (\fB) at the start of a line of the manual's example configuration;
// the blocks are those example lines that end in '{'.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var (
	// A keyword in bold followed by the end of the bold run (or of the line): not prose
	// ("\fBkeepalived.conf\fR is"), not a line form ("\fBfwmark <INTEGER>\fR").
	bold   = regexp.MustCompile(`^\s*\\fB([A-Za-z_][A-Za-z0-9_]*)(\s*\\f|\s*$)`)
	caps   = regexp.MustCompile(`^[A-Z_]+$`)
	markup = regexp.MustCompile(`\\f[BIRP]|\\\\|\\-|\\&`)
)

func main() {
	sc := bufio.NewScanner(os.Stdin)
	var stack []string
	seen := map[string]bool{}
	reference := false
	for sc.Scan() {
		raw := sc.Text()
		if strings.HasPrefix(raw, ".SH") {
			stack = nil // each section's example starts at the top level
			switch {
			case strings.Contains(raw, "GLOBAL CONFIGURATION"):
				reference = true
			case strings.Contains(raw, "ADVANCED CONFIGURATION"):
				reference = false // examples of the language, not keywords
			}
			continue
		}
		if strings.HasPrefix(raw, ".") || !reference {
			continue
		}
		text := markup.ReplaceAllString(raw, "")
		if i := strings.IndexAny(text, "#!"); i >= 0 && !strings.HasPrefix(strings.TrimSpace(text), "!") {
			text = text[:i]
		} else if strings.HasPrefix(strings.TrimSpace(text), "!") || strings.HasPrefix(strings.TrimSpace(text), "#") {
			text = ""
		}
		words := strings.Fields(text)
		m := bold.FindStringSubmatch(raw)
		opens := len(words) > 0 && words[len(words)-1] == "{"
		if m != nil && len(words) > 0 && strings.HasSuffix(words[0], ":") {
			m = nil // prose: "Note: ...", "Important: ..."
		}
		// An upper-case word is a block (HTTP_GET {, SSL {), never an emphasised word (NOT).
		if m != nil && caps.MatchString(m[1]) && !opens {
			m = nil
		}
		// A block whose line is not a plain keyword: the generic checker (CHECKER_TYPE {, not
		// in bold), the forms of a line ("virtual_server group NAME {"), alternatives
		// ("HTTP_GET|SSL_GET {"): the block takes the first name.
		if m == nil && opens && len(words) > 1 {
			stack = append(stack, strings.Split(words[0], "|")[0])
			continue
		}
		if m != nil {
			kw := m[1]
			path := strings.Join(append(append([]string{}, stack...), kw), "/")
			if !seen[path] {
				seen[path] = true
				fmt.Printf("%s\t%s\n", path, strings.Join(words, " "))
			}
			if opens {
				stack = append(stack, kw)
				continue
			}
		}
		for _, w := range words {
			switch w {
			case "{":
				if m == nil {
					stack = append(stack, "?")
				}
			case "}":
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			}
		}
	}
}
