package control

import (
	"slices"
	"strings"
	"testing"
)

func TestParseReadsEachCommandAndRefusesWhatItCannot(t *testing.T) {
	tests := []struct {
		line string
		want Command
		kind Kind
		err  string
	}{
		{line: "drain [127.0.0.1]:tcp:8080 127.0.0.1:8081", want: Command{Verb: Drain, VS: "[127.0.0.1]:tcp:8080", RS: "127.0.0.1:8081"}},
		{line: "maint 127.0.0.1:8080 --reason disk swap, back at 3", want: Command{Verb: Maint, VS: "127.0.0.1:8080", Reason: "disk swap, back at 3"}},
		{line: "ready 'FWM 5' 192.0.2.1:80 --reason=done now", want: Command{Verb: Ready, VS: "FWM 5", RS: "192.0.2.1:80", Reason: "done now"}},
		{line: "ready VI_1", want: Command{Verb: Ready, Name: "VI_1"}},
		{line: "resign VI_1 --reason kernel upgrade", want: Command{Verb: Resign, Instance: "VI_1", Reason: "kernel upgrade"}},
		{line: "weight vs rs 7", want: Command{Verb: Weight, VS: "vs", RS: "rs", Weight: 7}},
		{line: "weight vs rs reset", want: Command{Verb: Weight, VS: "vs", RS: "rs", Weight: ResetWeight}},
		{line: "weight vs rs -1", kind: Invalid, err: `weight "-1": expected a number from 0 to 2147483647, or reset`},
		{line: "weight vs rs 2147483648", kind: Invalid, err: "expected a number from 0 to 2147483647"},
		{line: "weight vs 7", kind: Invalid, err: "weight: expected VS RS N|reset"},
		{line: "drain", kind: Invalid, err: "drain: expected VS [RS]"},
		{line: "resign a b", kind: Invalid, err: "resign: expected INSTANCE"},
		{line: "ready a b c", kind: Invalid, err: "ready: expected VS [RS], or INSTANCE"},
		{line: "disable server x", kind: Invalid, err: `unknown command "disable"`},
		{line: "drain vs --reason", kind: Invalid, err: "--reason needs a text"},
		{line: "drain '' rs", kind: Invalid, err: "drain: an empty name"},
		{line: "", kind: Invalid, err: "no command"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			words, err := Split(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(words)
			if tc.err != "" {
				if err == nil || KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse = %+v, %v; want a %v error with %q", got, err, tc.kind, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tc.want)
			}
			// What String writes, Split and Parse read back.
			again, err := Split(got.String())
			if err != nil {
				t.Fatal(err)
			}
			if back, err := Parse(again); err != nil || back != got {
				t.Errorf("round trip through %q: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestSplitKeepsQuotedWordsAndQuoteMakesAnyTextOneWord(t *testing.T) {
	for _, s := range []string{"plain", "FWM 5", "it's", `a "quoted" word`, `back\slash`, "", "tab\there"} {
		words, err := Split("x " + Quote(s) + " y")
		if err != nil || !slices.Equal(words, []string{"x", s, "y"}) {
			t.Errorf("Quote(%q) = %s splits to %q, %v", s, Quote(s), words, err)
		}
	}
	if _, err := Split(`drain "open`); KindOf(err) != Invalid {
		t.Errorf("an unterminated quote: %v", err)
	}
}

// FuzzCommand reads a line as the control socket does (Split, then Parse): whatever it makes
// of the line, it never panics, and a command it accepts says itself back (String) as a line
// that reads as the same command, so `vigil ctl` and the socket cannot disagree.
func FuzzCommand(f *testing.F) {
	for _, line := range []string{
		"drain [192.0.2.1]:tcp:80 192.0.2.11:80 --reason kernel upgrade",
		"weight 192.0.2.1:80 192.0.2.11:80 reset",
		"weight 192.0.2.1:80 192.0.2.11:80 7 --reason=rebalance now",
		`maint "FWM 5" --reason 'it''s done'`,
		"resign VI_1",
		"ready VI_1",
		`ready 'a\'b' "c d"`,
		"drain",
	} {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if err != nil {
			return
		}
		c, err := Parse(words)
		if err != nil {
			return
		}
		again, err := Split(c.String())
		if err != nil {
			t.Fatalf("%q: its own line %q does not split: %v", line, c.String(), err)
		}
		back, err := Parse(again)
		if err != nil {
			t.Fatalf("%q: its own line %q is refused: %v", line, c.String(), err)
		}
		if back != c {
			t.Fatalf("%q reads as %+v, and its own line %q as %+v", line, c, c.String(), back)
		}
	})
}
