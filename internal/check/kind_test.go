package check

import (
	"fmt"
	"testing"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// readBlock reads text, the lines inside one block of kind (line 2 on: line 1 opens the block),
// with the kind's table alone, as a real_server reads it less the shared keywords, which are
// package config/lvs's. It returns the options, whether the block's end kept the checker, and
// the diagnostics as "LINE: message" ("LINE: error: message" for errors). Resolve, when the kind
// sets it, runs with s.
func readBlock(t testing.TB, kind Kind, text string, s Server) (Options, bool, []string) {
	t.Helper()
	var opts Options
	kept := false
	top := &syntax.Table{Keywords: map[string]syntax.Keyword{
		kind.Name: {Block: func(p *syntax.Parser, l syntax.Line) *syntax.Table {
			b := &Block{Keywords: map[string]syntax.Keyword{}, Server: "[10.0.0.2]:tcp:80", SetRetry: func(uint32) {},
				TrackFile: func(string) (int, bool, bool) { return 0, false, false }}
			opts = kind.Block(b)
			return &syntax.Table{Keywords: b.Keywords, Close: func(p *syntax.Parser, end syntax.Pos) {
				kept = b.Close == nil || b.Close(p, end)
				if b.Resolve != nil {
					b.Resolve(s)
				}
			}}
		}},
	}}
	diags := &syntax.Diagnostics{}
	lines := syntax.LexBytes("test.conf", []byte(kind.Name+" {\n"+text+"}\n"), syntax.Options{ConfigID: "test"}, diags)
	syntax.Parse(lines, top, diags)
	msgs := []string{}
	for _, d := range diags.List {
		if d.Severity == syntax.Error {
			msgs = append(msgs, fmt.Sprintf("%d: error: %s", d.Pos.Line, d.Message))
		} else {
			msgs = append(msgs, fmt.Sprintf("%d: %s", d.Pos.Line, d.Message))
		}
	}
	return opts, kept, msgs
}
