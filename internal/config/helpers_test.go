package config

import (
	"strings"
	"testing"
)

// parseString parses src as a configuration file named "test.conf". Until the lexer lands it
// splits lines on white space and drops '!' and '#' comments; afterwards it goes through lex.
func parseString(t *testing.T, src string) (*Config, *Diagnostics) {
	t.Helper()
	var lines []Line
	for i, text := range strings.Split(src, "\n") {
		if j := strings.IndexAny(text, "!#"); j >= 0 {
			text = text[:j]
		}
		text = strings.ReplaceAll(strings.ReplaceAll(text, "{", " { "), "}", " } ")
		if w := strings.Fields(text); len(w) > 0 {
			lines = append(lines, Line{Pos: Pos{File: "test.conf", Line: i + 1}, Words: w})
		}
	}
	diags := &Diagnostics{}
	return Parse(lines, diags), diags
}
