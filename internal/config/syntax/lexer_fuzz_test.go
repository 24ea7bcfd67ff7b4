package syntax

import (
	"strings"
	"testing"
	"time"
)

// FuzzLex feeds arbitrary bytes to the lexer. It must not panic, must finish, and must keep its
// promises about the lines it returns. Seeds are in testdata/fuzz/FuzzLex (Keepalived's sample
// configurations, the shared corpus and the constructs the lexer handles).
func FuzzLex(f *testing.F) {
	for _, s := range []string{
		"a { b }\n}}\n{x\n",
		"@main a\n@^main b\n@ c\n",
		"$X=1\n${X} $X, $X)\n$M=\\\na ${X}\\\n\nb\n$M\n",
		"~SEQ(i,1,3) ~SEQx(j, 0x9, 1, 0xb) ${i}:${j}\n~LST({A,B},{1,2},{3}) ${A}${B}\n",
		"a \"b # c\" 'd # e'\n\\#x\n",
		"include /nonexistent/*.conf\nincludea {a,b}.conf\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxLines = 2000
		d := &Diagnostics{}
		var lines []Line
		done := make(chan struct{})
		go func() {
			defer close(done)
			lines = LexBytes("fuzz.conf", data, Options{ConfigID: "main", MaxLines: maxLines}, d)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("lexing %q did not finish in 10s", clip(string(data)))
		}
		if len(lines) > maxLines {
			t.Fatalf("%d lines, more than MaxLines %d", len(lines), maxLines)
		}
		for _, l := range lines {
			if len(l.Words) == 0 {
				t.Fatalf("empty line at %s", l.Pos)
			}
			if l.Pos.Line < 1 || l.Pos.File == "" {
				t.Fatalf("bad position %+v", l.Pos)
			}
			for _, w := range l.Words {
				if w == "" {
					continue // "" is a word
				}
				// A brace outside quotes is always a word of its own, so a word holding a
				// brace with other text came from a quoted string.
				if (strings.Contains(w, "{") || strings.Contains(w, "}")) && w != "{" && w != "}" && !strings.Contains(string(data), "\"") && !strings.Contains(string(data), "$") && !strings.Contains(string(data), "include") {
					t.Fatalf("brace inside word %q at %s", w, l.Pos)
				}
			}
		}
	})
}
