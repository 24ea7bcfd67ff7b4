package notify

import (
	"slices"
	"testing"
)

func TestSplitCommandFollowsKeepalivedQuoting(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"/bin/check", []string{"/bin/check"}},
		{"  /bin/check   a\tb  ", []string{"/bin/check", "a", "b"}},
		{"/bin/check 'a b' c", []string{"/bin/check", "a b", "c"}},
		{`/bin/check "a 'b'" c`, []string{"/bin/check", "a 'b'", "c"}},
		{`/bin/check abcd" efg h "ijk`, []string{"/bin/check", "abcd efg h ijk"}},
		{`/bin/check a\ b`, []string{"/bin/check", "a b"}},
		{`/bin/check "a\"b"`, []string{"/bin/check", `a"b`}},
		{`/bin/check \t \x41 \101 \cA \\`, []string{"/bin/check", "\t", "A", "A", "\x01", `\`}},
		{`/bin/check ''`, []string{"/bin/check", ""}},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.line)
		if err != nil {
			t.Errorf("SplitCommand(%q): %v", tt.line, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestSplitCommandRefusesUnterminatedQuoteAndEmptyLine(t *testing.T) {
	for _, line := range []string{`/bin/x "a`, `/bin/x 'a`, "", "   ", `/bin/x \`} {
		if got, err := SplitCommand(line); err == nil {
			t.Errorf("SplitCommand(%q) = %q, want an error", line, got)
		}
	}
}

func TestNeedsShellOnlyForUnquotedShellSyntax(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"/usr/bin/pgrep haproxy", false},
		{"/bin/check 'a|b' \"c;d\"", false},
		{"/bin/check a=b", false},
		{"/bin/check a#b", false},
		{"/bin/check a\\|b", false},
		{"pgrep haproxy || exit 1", true},
		{"/bin/check > /dev/null", true},
		{"</dev/tcp/127.0.0.1/80", true},
		{"/bin/check $HOME", true},
		{"/bin/check \"$HOME\"", true},
		{"/bin/check '$HOME'", false},
		{"/bin/check *.conf", true},
		{"/bin/check `id`", true},
		{"FOO=1 /bin/check", true},
		{"/bin/check # comment", true},
		{"/bin/a; /bin/b", true},
	}
	for _, tt := range tests {
		if got := NeedsShell(tt.line); got != tt.want {
			t.Errorf("NeedsShell(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestShellQuoteSurvivesEmbeddedQuotes(t *testing.T) {
	if got := shellQuote("it's"); got != `'it'\''s'` {
		t.Fatalf("shellQuote = %s", got)
	}
}

func TestShellSyntaxNamesTheFirstConstruct(t *testing.T) {
	tests := []struct{ line, want string }{
		{"/usr/bin/pgrep haproxy", ""},
		{"/bin/ok.sh && /tmp/evil.sh", `"&&" (a command list)`},
		{"/bin/ok.sh || /tmp/evil.sh", `"||" (a command list)`},
		{"/bin/ok.sh $(/tmp/evil.sh)", `"$(" (command substitution)`},
		{"/bin/ok.sh `/tmp/evil.sh`", "backquotes (command substitution)"},
		{`/bin/ok.sh "$HOME"`, `"$" (an expansion)`},
		{"/bin/ok.sh > /dev/null", `">" (a redirection)`},
		{"/bin/ok.sh *.conf", `"*" (a pattern)`},
		{"FOO=1 /bin/ok.sh", "a variable assignment"},
		{"/bin/ok.sh\n/tmp/evil.sh", "a newline (a command list)"},
	}
	for _, tt := range tests {
		if got := ShellSyntax(tt.line); got != tt.want {
			t.Errorf("ShellSyntax(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}
