package syntax

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/internal/testenv"
)

// Expectations marked "observed" were checked against keepalived 2.2.7 (`keepalived -t -f`,
// reading its "Unknown keyword" and "Block ... has extra parameters" reports for the words it
// saw).

// render shows lines as "LINE: word|word" for comparison.
func render(lines []Line) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, strconv.Itoa(l.Pos.Line)+": "+strings.Join(l.Words, "|"))
	}
	return out
}

func lexString(src string, opts Options) ([]Line, *Diagnostics) {
	d := &Diagnostics{}
	if opts.ConfigID == "" {
		opts.ConfigID = "main"
	}
	return LexBytes("test.conf", []byte(src), opts, d), d
}

func messages(d *Diagnostics) []string {
	var out []string
	for _, x := range d.List {
		out = append(out, fmt.Sprintf("%d: %s: %s", x.Pos.Line, x.Severity, x.Message))
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type lexCase struct {
	name  string
	src   string
	want  []string // rendered lines
	diags []string // rendered diagnostics; nil means none
}

func runLexCases(t *testing.T, cases []lexCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, d := lexString(tc.src, Options{})
			if got := render(lines); !equalStrings(got, tc.want) {
				t.Errorf("lines:\n got %q\nwant %q", got, tc.want)
			}
			if got := messages(d); !equalStrings(got, tc.diags) {
				t.Errorf("diagnostics:\n got %q\nwant %q", got, tc.diags)
			}
		})
	}
}

func TestLexCommentsQuotesAndWhiteSpace(t *testing.T) {
	runLexCases(t, []lexCase{
		{name: "hash and bang comments anywhere", src: "# c\n! c\na b # c\nd!e\n  \n\n", want: []string{"3: a|b", "4: d"}},
		{name: "tabs and CRLF", src: "a\tb\r\n\tc  d \r\n", want: []string{"1: a|b", "2: c|d"}},
		{name: "double quotes make one word keeping comment characters", src: `a "b # c ! d" e`, want: []string{"1: a|b # c ! d|e"}},
		// observed: single quotes do not protect a comment, and are not removed.
		{name: "single quotes are plain characters", src: "aaa'x # y' z", want: []string{"1: aaa'x"}},
		// observed: a quote ends a word; the next word starts at it.
		{name: "quote inside a word splits it", src: `a"b c"d`, want: []string{"1: a|b c|d"}},
		{name: "empty quoted word", src: `a "" b`, want: []string{"1: a||b"}},
		// observed: '\#' protects the '#' only in Keepalived's parent process; its VRRP and
		// checker processes re-read a decommented copy, where it starts a comment.
		{name: "escaped hash still ends the line", src: `ccc\#notcomment`, want: []string{"1: ccc"}},
		{name: "non-UTF-8 and control bytes kept", src: "a \xff\xfe \x01\x02", want: []string{"1: a|\xff\xfe|\x01\x02"}},
		{name: "unterminated quote", src: `cc "unterminated # x`, want: []string{"1: cc"}, diags: []string{
			`1: warning: Unterminated quote 'cc "unterminated # x'`,
			`1: warning: Unmatched quote: 'cc "unterminated # x'`,
		}},
		// observed: the quote opens before the '#', so the comment is not one.
		{name: "quote opened late", src: `dd unterminated" # y`, want: []string{"1: dd|unterminated"}, diags: []string{
			`1: warning: Unterminated quote 'dd unterminated" # y'`,
			`1: warning: Unmatched quote: 'dd unterminated" # y'`,
		}},
		{name: "NUL ends the line", src: "a b\x00c d\ne", want: []string{"1: a|b", "2: e"}, diags: []string{
			"1: warning: NUL byte in line; the rest of the line is ignored, as Keepalived does",
		}},
		{name: "no final newline", src: "a\nb", want: []string{"1: a", "2: b"}},
	})
}

func TestLexBracesAreWordsOfTheirOwn(t *testing.T) {
	runLexCases(t, []lexCase{
		{name: "brace glued to keyword", src: "static_ipaddress x{\n}", want: []string{"1: static_ipaddress|x|{", "2: }"}},
		{name: "brace glued to value", src: "static_ipaddress {x\n}", want: []string{"1: static_ipaddress|{|x", "2: }"}},
		{name: "double closing brace", src: "a {\nb {\n}}", want: []string{"1: a|{", "2: b|{", "3: }|}"}},
		{name: "one-line block", src: "a { b c }", want: []string{"1: a|{|b|c|}"}},
		// observed: a brace inside double quotes does not split the line.
		{name: "quoted brace", src: `static_ipaddress "a{b" {` + "\n}", want: []string{"1: static_ipaddress|a{b|{", "2: }"}},
		// The text after a brace is read like a new line: a conditional there works.
		{name: "conditional after a brace", src: "a { @main b }\nc { @other d }", want: []string{"1: a|{|b|}", "2: c|{"}, diags: []string{
			"0: warning: There are 1 missing '}'s or extra '{'s",
		}},
		{name: "missing closing brace", src: "a {\nb {\n}", want: []string{"1: a|{", "2: b|{", "3: }"}, diags: []string{
			"0: warning: There are 1 missing '}'s or extra '{'s",
		}},
	})
}

func TestLexConditionalLines(t *testing.T) {
	// Config id is "main" (see lexString).
	runLexCases(t, []lexCase{
		// observed with -i main.
		{name: "match and negated match", src: "@main kept_main\n@^main dropped\n@other dropped\n@^other kept_notother", want: []string{"1: kept_main", "4: kept_notother"}},
		{name: "nothing after the id", src: "@main\n@^other", want: nil},
		// observed: "@ x" has an empty id, which never matches; "@^ y" is therefore kept.
		{name: "empty id", src: "@ x_nokey\n@^ y_nokey", want: []string{"2: y_nokey"}},
		{name: "blanks after the id", src: "@main\t\t a  b", want: []string{"1: a|b"}},
		{name: "id is compared whole", src: "@mai x\n@mainx y", want: nil},
		// A conditional drops one line, never a block: the body and its '}' stay.
		{name: "conditional block opener", src: "@other a {\n b\n}", want: []string{"2: b", "3: }"}},
		{name: "inside a block", src: "g {\n@main router_id main_router\n@backup router_id backup_router\n}", want: []string{"1: g|{", "2: router_id|main_router", "4: }"}},
	})
}

func TestLexConditionalUsesHostNameByDefault(t *testing.T) {
	h, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	short, _, _ := strings.Cut(h, ".")
	d := &Diagnostics{}
	lines := LexBytes("test.conf", []byte("@"+short+" yes\n@^"+short+" no"), Options{}, d)
	if got := render(lines); !equalStrings(got, []string{"1: yes"}) {
		t.Errorf("got %q", got)
	}
}

func TestLexParameterSubstitution(t *testing.T) {
	runLexCases(t, []lexCase{
		// observed.
		{name: "plain and braced", src: "$X=hello\n$X\n${X}world\n$Xworld\n$X,z", want: []string{"2: hello", "3: helloworld", "4: $Xworld", "5: hello,z"}},
		{name: "followed by blank or paren", src: "$X=v\na $X b\nf($X)", want: []string{"2: a|v|b", "3: f(v)"}},
		{name: "undefined names stay", src: "$X=1\nscript \"/bin/echo $HOME ${UNDEF}\"\n$UNDEF", want: []string{"2: script|/bin/echo $HOME ${UNDEF}", "3: $UNDEF"}},
		{name: "blank before = is not a definition", src: "$X =v", want: []string{"1: $X|=v"}},
		{name: "name cannot start with a digit", src: "$1X=v\n$1X", want: []string{"1: $1X=v", "2: $1X"}},
		{name: "empty value", src: "$E=\na${E}b", want: []string{"2: ab"}},
		{name: "blanks after = skipped", src: "$X=   v w  \n[$X]", want: []string{"2: [$X]"}},
		{name: "value with blanks", src: "$X=   v w  \n${X}", want: []string{"2: v|w"}},
		{name: "redefinition", src: "$X=1\n$X\n$X=2\n$X", want: []string{"2: 1", "4: 2"}},
		// The man page's example: substitution is done at use, not at definition.
		{name: "recursive at use time", src: "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32", want: []string{"3: 10.2.0.100/32", "5: 10.2.10.100/32"}},
		{name: "value is a conditional", src: "$IF_MAIN=@main\n$IF_OTHER=@other\n$IF_MAIN priority 240\n$IF_OTHER priority 100", want: []string{"3: priority|240"}},
		{name: "conditional definition", src: "@main $P=240\n@backup $P=200\npriority $P", want: []string{"3: priority|240"}},
		// observed: a '#' produced by substitution starts a comment unless quoted.
		{name: "_HASH and _BANG", src: "ddd ${_HASH}x\n\"eee ${_HASH} q\"\n\"${_BANG}\"\n$Y=${_HASH}\n$Y zz", want: []string{"1: ddd", "2: eee # q", "3: !"}},
		{name: "_INSTANCE", src: "id ${_INSTANCE}", want: []string{"1: id|main"}},
		{name: "_RANDOM with a range of one", src: "a${_RANDOM 7 7}\nb ${_RANDOM 3 3} c", want: []string{"1: a7", "2: b|3|c"}},
		{name: "params only for _RANDOM", src: "$X=v\n${X 1}", want: []string{"2: $|{|X|1|}"}},
		{name: "predefined name overridden", src: "$_HASH=h\n${_HASH}", want: []string{"2: h"}},
		{name: "value starting with ~ stops the scan", src: "$S=~SEQ(i,1,2) v${i}\n$S", want: []string{"2: v1", "2: v2"}},
		{name: "substitution making an include line", src: "$X=1\ninclude${X}", want: []string{"2: include1"}},
	})
}

func TestLexPWDIsTheCurrentFilesDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sub", "inc.conf"), "inc ${_PWD}\n")
	writeFile(t, filepath.Join(dir, "main.conf"), "top ${_PWD}\ninclude sub/inc.conf\n")
	lines, d := lexFile(t, filepath.Join(dir, "main.conf"), Options{})
	want := []string{"1: top|" + dir, "1: inc|" + filepath.Join(dir, "sub")}
	if got := render(lines); !equalStrings(got, want) {
		t.Errorf("got %q, want %q (diags %q)", got, want, messages(d))
	}
}

func TestLexMultilineDefinitions(t *testing.T) {
	runLexCases(t, []lexCase{
		// observed: a blank or comment line ends the definition, one ending in '\' does not.
		{name: "comment line ends it", src: "$A=va w1 \\\n#c x\nw2 w3\n$A", want: []string{"3: w2|w3", "4: va|w1"}},
		{name: "blank line ends it", src: "$ML= \\\n  ml_a ${N} \\\n  # note \\\n  ml_b \\\n\n  ml_c\n$N=1\n$ML\nafter", want: []string{"6: ml_c", "8: ml_a|1", "8: ml_b", "9: after"}},
		{name: "last line without backslash ends it", src: "$B=\\\nx {\\\ny\\\n}\n$B", want: []string{"5: x|{", "5: y", "5: }"}},
		{name: "used only at the end of a line", src: "$B=\\\nx\\\ny\n$B tail\nhead $B", want: []string{"4: $B|tail", "5: head|x", "5: y"}},
		{name: "only backslash then value", src: "$B=\\\nsingle\n$B", want: []string{"3: single"}},
		// The man page's example.
		{name: "instance template", src: `$INSTANCE= \
vrrp_instance VI_${NUM} { \
    interface eth0.${NUM} \
    @main priority 130 \
    @low priority 120 \
    virtual_ipaddress { \
        10.0.${NUM}.254/24 \
    } \
}

$NUM=0
$INSTANCE

$NUM=1
$INSTANCE`, want: []string{
			"12: vrrp_instance|VI_0|{", "12: interface|eth0.0", "12: priority|130", "12: virtual_ipaddress|{", "12: 10.0.0.254/24", "12: }", "12: }",
			"15: vrrp_instance|VI_1|{", "15: interface|eth0.1", "15: priority|130", "15: virtual_ipaddress|{", "15: 10.0.1.254/24", "15: }", "15: }",
		}},
		{name: "nested multiline definitions", src: "$RS= \\\nreal_server 10.0.${VS}.${R} { \\\n}\n$VS_T= \\\nvirtual_server ${VS} { \\\n$R=1 \\\n$RS \\\n$R=2 \\\n$RS \\\n}\n$VS=7\n$VS_T", want: []string{
			"12: virtual_server|7|{", "12: real_server|10.0.7.1|{", "12: }", "12: real_server|10.0.7.2|{", "12: }", "12: }",
		}},
		{name: "sequence over a multiline definition", src: "$B=\\\nb${i} {\\\n}\n~SEQ(i,1,2) $B\nend", want: []string{"4: b1|{", "4: }", "4: b2|{", "4: }", "5: end"}},
	})
}

func TestLexSequencesAndLists(t *testing.T) {
	runLexCases(t, []lexCase{
		// All observed.
		{name: "start step end", src: "~SEQ(i, 1, 3) seq_${i}", want: []string{"1: seq_1", "1: seq_2", "1: seq_3"}},
		{name: "hex", src: "~SEQx(h, 0x9, 0x1, 0xb) hex_${h}", want: []string{"1: hex_9", "1: hex_a", "1: hex_b"}},
		{name: "end only", src: "~SEQ(j,3) s_${j}", want: []string{"1: s_1", "1: s_2", "1: s_3"}},
		{name: "negative end only", src: "~SEQ(k,-2) s_${k}", want: []string{"1: s_-1", "1: s_-2"}},
		{name: "zero end only counts down from one", src: "~SEQ(k,0) s_${k}", want: []string{"1: s_1", "1: s_0"}},
		{name: "start and end counting down", src: "~SEQ(m,3,1) s_${m}", want: []string{"1: s_3", "1: s_2", "1: s_1"}},
		{name: "step past the end", src: "~SEQ(m,1,2,6) s_${m}", want: []string{"1: s_1", "1: s_3", "1: s_5"}},
		{name: "nested", src: "~SEQ(i, 1, 2) ~SEQ(j,1,2) n_${i}_${j}", want: []string{"1: n_1_1", "1: n_1_2", "1: n_2_1", "1: n_2_2"}},
		{name: "variables stay defined", src: "~SEQ(i,1,2) x\nlast ${i}", want: []string{"1: x", "1: x", "2: last|2"}},
		{name: "numbers from definitions", src: "$N=3\n~SEQ(i,${N}) v${i}", want: []string{"2: v1", "2: v2", "2: v3"}},
		{name: "octal like strtol", src: "~SEQ(i,010,010) v${i}", want: []string{"1: v8"}},
		{name: "in a block", src: "virtual_ipaddress {\n~SEQx(A, 0x90, 0x10, 0xa0) fe80::${A}\n}", want: []string{"1: virtual_ipaddress|{", "2: fe80::90", "2: fe80::a0", "3: }"}},
		{name: "list with sets", src: "~LST({A,B},{1,2},{3}) lst_${A}_${B}", want: []string{"1: lst_1_2", "1: lst_3_"}},
		{name: "list of single values", src: "~LST(IP, 1, 2) ~LST(J, 5,6) 192.${IP}.${J}", want: []string{"1: 192.1.5", "1: 192.1.6", "1: 192.2.5", "1: 192.2.6"}},
		{name: "list and sequence", src: "~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) ${IP2}.${IP}.${IP1}", want: []string{"1: 168.10.1", "1: 170.10.1", "1: 168.20.4", "1: 170.20.4"}},
		{name: "empty text", src: "~SEQ(q,1,2)", want: nil},
		// observed: the first character after the variable is skipped whatever it is.
		{name: "blanks instead of commas", src: "~SEQ(q 1 3) bad3", want: []string{"1: bad3", "1: bad3", "1: bad3"}},
		{name: "zero step", src: "~SEQ(q,1,0,3) bad", diags: []string{
			"1: warning: Invalid ~SEQ values '~SEQ(q,1,0,3) bad'", "1: warning: Invalid ~SEQ specification '~SEQ(q,1,0,3) bad'",
		}},
		{name: "step away from the end", src: "~SEQ(q,1,-1,3) bad2", diags: []string{
			"1: warning: Invalid ~SEQ values '~SEQ(q,1,-1,3) bad2'", "1: warning: Invalid ~SEQ specification '~SEQ(q,1,-1,3) bad2'",
		}},
		{name: "hex of a negative", src: "~SEQx(q,-1,1) x", diags: []string{
			"1: warning: ~SEQx is only valid for positive numbers '~SEQx(q,-1,1) x'", "1: warning: Invalid ~SEQ specification '~SEQx(q,-1,1) x'",
		}},
		{name: "no variable", src: "~SEQ(,1) x", diags: []string{
			"1: warning: Invalid ~SEQ definition '~SEQ(,1) x'", "1: warning: Invalid ~SEQ specification '~SEQ(,1) x'",
		}},
		{name: "no closing paren", src: "~SEQ(i,1", diags: []string{
			"1: warning: Invalid ~SEQ definition '~SEQ(i,1'", "1: warning: Invalid ~SEQ specification '~SEQ(i,1'",
		}},
		{name: "no paren", src: "~SEQ i", diags: []string{"1: warning: Invalid ~SEQ specification '~SEQ i'"}},
		{name: "list with too many values", src: "~LST({A},{1,2}) x", diags: []string{
			"1: warning: ~LST specification has too many values '~LST({A},{1,2}) x'", "1: warning: Invalid ~LST specification '~LST({A},{1,2}) x'",
		}},
		// observed: a line starting with another ~word is kept and not substituted.
		{name: "other tilde word", src: "$N=1\n~FOO foo_${N}", want: []string{"2: ~FOO|foo_$|{|N|}"}},
	})
}

func TestLexBoundsAreDiagnosedNotExhausted(t *testing.T) {
	cases := []struct {
		name      string
		src       string
		opts      Options
		wantLines int
		wantDiag  string // substring of an Error
	}{
		{name: "huge sequence", src: "~SEQ(i, 1, 9223372036854775807) x${i}", wantDiag: "~SEQ would produce 9223372036854775807 lines"},
		{name: "full int64 range", src: "~SEQ(i, -9223372036854775808, 1, 9223372036854775807) x", wantDiag: "~SEQ would produce 2^64 lines"},
		{name: "nested sequences over the line limit", src: "~SEQ(i,1,1000) ~SEQ(j,1,1000) x", opts: Options{MaxLines: 10_000}, wantLines: 9_000, wantDiag: "~SEQ would produce 1000 lines, more than the limit of 10000"},
		{name: "sequence of dropped lines", src: "~SEQ(i,1,100000) @nomatch x", opts: Options{MaxLines: 1000}, wantDiag: "~SEQ would produce 100000 lines"},
		{name: "self-referring definition", src: "$A=$A\n$A", wantDiag: "did not end after 1000 replacements"},
		{name: "mutually referring definitions", src: "$A=${B}\n$B=${A}\nx $A", wantDiag: "did not end after 1000 replacements"},
		// Found by FuzzLex: the text after the brace is substituted again, for ever.
		{name: "self-reference after a brace", src: "$X=helloo' {${X}\n$X,", wantLines: 1, wantDiag: "did not end after 1000 replacements"},
		{name: "line limit", src: strings.Repeat("a\n", 200), opts: Options{MaxLines: 100}, wantLines: 100, wantDiag: "longer than 100 lines"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			var lines []Line
			var d *Diagnostics
			go func() {
				defer close(done)
				lines, d = lexString(tc.src, tc.opts)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("lexing did not finish in 10s")
			}
			if len(lines) != tc.wantLines {
				t.Errorf("got %d lines, want %d", len(lines), tc.wantLines)
			}
			if !hasError(d, tc.wantDiag) {
				t.Errorf("no error containing %q in %q", tc.wantDiag, messages(d))
			}
		})
	}
}

func TestLexGrowingDefinitionStopsAtKeepalivedsLineLimit(t *testing.T) {
	lines, d := lexString("$A=xx$A\nv $A", Options{})
	if len(lines) != 1 || len(strings.Join(lines[0].Words, " ")) > keepalivedMaxLine {
		t.Errorf("got %q", render(lines))
	}
	if len(d.List) != 1 || !strings.Contains(d.List[0].Message, "would exceed maximum line length") {
		t.Errorf("diagnostics %q", messages(d))
	}
}

func TestLexLongLines(t *testing.T) {
	long := strings.Repeat("x", 2000)
	lines, d := lexString("a "+long+"\nb", Options{})
	if got := render(lines); !equalStrings(got, []string{"1: a|" + long, "2: b"}) {
		t.Errorf("got %d lines", len(got))
	}
	if got := messages(d); len(got) != 1 || !strings.Contains(got[0], "would split it") {
		t.Errorf("diagnostics %q", got)
	}

	huge := "a " + strings.Repeat("y", 10<<20) + "\nb\n"
	lines, d = lexString(huge, Options{})
	if got := render(lines); !equalStrings(got, []string{"2: b"}) {
		t.Errorf("got %q", got)
	}
	if !d.HasErrors() || !strings.Contains(d.List[0].Message, "more than the limit") {
		t.Errorf("diagnostics %q", messages(d))
	}
}

func TestLexDeeplyNestedBraces(t *testing.T) {
	// A million braces: a lexer quadratic in the nesting would not finish within go test's
	// timeout (no timed assertion here; under load a timed one fails for the machine's sake).
	src := strings.Repeat("{", 1<<20) + "\n" + strings.Repeat("}", 1<<20) + "\n"
	lines, d := lexString(src, Options{})
	if len(lines) != 2 || len(lines[0].Words) != 1<<20 || len(lines[1].Words) != 1<<20 {
		t.Fatalf("got %d lines", len(lines))
	}
	if !hasError(d, "blocks nested deeper than 10000") {
		t.Errorf("diagnostics %q", messages(d))
	}
}

func hasError(d *Diagnostics, substr string) bool {
	for _, x := range d.List {
		if x.Severity == Error && strings.Contains(x.Message, substr) {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lexFile(t *testing.T, path string, opts Options) ([]Line, *Diagnostics) {
	t.Helper()
	if opts.ConfigID == "" {
		opts.ConfigID = "main"
	}
	d := &Diagnostics{}
	lines, err := Lex(path, opts, d)
	if err != nil {
		t.Fatalf("lex %s: %v", path, err)
	}
	return lines, d
}

// renderFiles shows lines as "FILE:LINE: word|word", FILE relative to dir.
func renderFiles(dir string, lines []Line) []string {
	var out []string
	for _, l := range lines {
		f, err := filepath.Rel(dir, l.Pos.File)
		if err != nil {
			f = l.Pos.File
		}
		out = append(out, fmt.Sprintf("%s:%d: %s", f, l.Pos.Line, strings.Join(l.Words, "|")))
	}
	return out
}

func messagesIn(dir string, d *Diagnostics) []string {
	var out []string
	for _, x := range d.List {
		f, err := filepath.Rel(dir, x.Pos.File)
		if err != nil {
			f = x.Pos.File
		}
		out = append(out, fmt.Sprintf("%s:%d: %s: %s", f, x.Pos.Line, x.Severity, strings.ReplaceAll(x.Message, dir+"/", "")))
	}
	return out
}

func TestLexInclude(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
		diags []string
	}{
		{
			// observed: an include is relative to the directory of the file that holds it.
			name: "relative to the including file",
			files: map[string]string{
				"main.conf":     "a\ninclude sub/inc.conf\nb",
				"sub/inc.conf":  "inc_line1\ninclude sub2.conf",
				"sub/sub2.conf": "sub2_line",
				"sub2.conf":     "top_sub2",
			},
			want: []string{"main.conf:1: a", "sub/inc.conf:1: inc_line1", "sub/sub2.conf:1: sub2_line", "main.conf:3: b"},
		},
		{
			name: "glob in name order",
			files: map[string]string{
				"main.conf":       "include conf.d/*.conf\nend",
				"conf.d/b.conf":   "b",
				"conf.d/a.conf":   "a",
				"conf.d/.h.conf":  "hidden",
				"conf.d/c.notcfg": "c",
			},
			want: []string{"conf.d/a.conf:1: a", "conf.d/b.conf:1: b", "main.conf:2: end"},
		},
		{
			// observed: alternatives in order; the missing one is reported, the rest read.
			name:  "braces with one missing alternative",
			files: map[string]string{"main.conf": "include {z,a,missing}.inc", "a.inc": "a", "z.inc": "z"},
			want:  []string{"z.inc:1: z", "a.inc:1: a"},
			diags: []string{`main.conf:1: warning: Some config files missing: "{z,a,missing}.inc".`},
		},
		{
			name:  "includeb refuses when an alternative is missing",
			files: map[string]string{"main.conf": "includeb {a,missing}.inc", "a.inc": "a"},
			diags: []string{`main.conf:1: error: Some config files missing: "{a,missing}.inc".`},
		},
		{
			// Keepalived's exact words (corpus file 004).
			name:  "missing directory",
			files: map[string]string{"main.conf": "x\ninclude /nonexistent-vigil/conf.d/*.conf"},
			want:  []string{"main.conf:1: x"},
			diags: []string{"main.conf:2: warning: Config files missing '/nonexistent-vigil/conf.d/*.conf'."},
		},
		{
			name:  "missing file",
			files: map[string]string{"main.conf": "include nothere.conf\nincludem nothere.conf"},
			diags: []string{"main.conf:1: warning: Config files missing 'nothere.conf'.", "main.conf:2: error: Config files missing 'nothere.conf'."},
		},
		{
			// observed: quotes are part of the pattern.
			name:  "quoted pattern",
			files: map[string]string{"main.conf": `include "a.inc"`, "a.inc": "a"},
			diags: []string{`main.conf:1: warning: Config files missing '"a.inc"'.`},
		},
		{
			// observed: a wildcard matching nothing is silent unless includew or includea.
			name:  "wildcard matching nothing",
			files: map[string]string{"main.conf": "include sub/*.none\nincludew sub/*.none\nincluder sub/*.none", "sub/x": "x"},
			diags: []string{"main.conf:2: error: No config files matched 'sub/*.none'."},
		},
		{
			name:  "directory",
			files: map[string]string{"main.conf": "include sub\nincluder sub", "sub/x": "x"},
			diags: []string{"main.conf:1: warning: Configuration file 'sub/' is a directory - skipping", "main.conf:2: error: Configuration file 'sub/' is a directory - skipping"},
		},
		{
			name:  "device",
			files: map[string]string{"main.conf": "include /dev/zero\nafter"},
			want:  []string{"main.conf:2: after"},
			diags: []string{"main.conf:1: warning: Configuration file '/dev/zero' is not a regular non-executable file - skipping"},
		},
		{
			// observed: after @id and $NAME processing (the man page says otherwise).
			name:  "include under a conditional and from a definition",
			files: map[string]string{"main.conf": "@main include a.inc\n@other include a.inc\n$I=include a.inc\n$I", "a.inc": "a"},
			want:  []string{"a.inc:1: a", "a.inc:1: a"},
		},
		{
			name:  "definitions and sequences cross files",
			files: map[string]string{"main.conf": "$X=1\n~SEQ(i,1,2) include f${i}.inc\nv $Y", "f1.inc": "f1 $X", "f2.inc": "$Y=2"},
			want:  []string{"f1.inc:1: f1|1", "main.conf:3: v|2"},
		},
		{
			name:  "loop",
			files: map[string]string{"main.conf": "include a.inc\nend", "a.inc": "a\ninclude b.inc", "b.inc": "b\ninclude a.inc\nb2"},
			want:  []string{"a.inc:1: a", "b.inc:1: b", "b.inc:3: b2", "main.conf:2: end"},
			diags: []string{"b.inc:2: error: include loop: main.conf:1 includes a.inc:2 includes b.inc:2 includes a.inc"},
		},
		{
			name:  "self include",
			files: map[string]string{"main.conf": "x\ninclude main.conf"},
			want:  []string{"main.conf:1: x"},
			diags: []string{"main.conf:2: error: include loop: main.conf:2 includes main.conf"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			lines, d := lexFile(t, filepath.Join(dir, "main.conf"), Options{})
			if got := renderFiles(dir, lines); !equalStrings(got, tc.want) {
				t.Errorf("lines:\n got %q\nwant %q", got, tc.want)
			}
			if got := messagesIn(dir, d); !equalStrings(got, tc.diags) {
				t.Errorf("diagnostics:\n got %q\nwant %q", got, tc.diags)
			}
		})
	}
}

func TestLexIncludeSkipsExecutableFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.conf"), "include x.inc")
	writeFile(t, filepath.Join(dir, "x.inc"), "x")
	if err := os.Chmod(filepath.Join(dir, "x.inc"), 0o755); err != nil {
		t.Fatal(err)
	}
	lines, d := lexFile(t, filepath.Join(dir, "main.conf"), Options{})
	if len(lines) != 0 || !equalStrings(messagesIn(dir, d), []string{"main.conf:1: warning: Configuration file 'x.inc' is not a regular non-executable file - skipping"}) {
		t.Errorf("lines %q diagnostics %q", render(lines), messagesIn(dir, d))
	}
}

func TestLexIncludeDepthIsBounded(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 40; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.conf", i)), fmt.Sprintf("l%d\ninclude f%d.conf", i, i+1))
	}
	lines, d := lexFile(t, filepath.Join(dir, "f0.conf"), Options{})
	if len(lines) != maxIncludeDepth {
		t.Errorf("got %d lines, want %d", len(lines), maxIncludeDepth)
	}
	if !d.HasErrors() || !strings.Contains(d.List[0].Message, "nested deeper than 32") {
		t.Errorf("diagnostics %q", messages(d))
	}
}

func TestLexPositionNamesTopFileAsGiven(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.conf"), "a\ninclude sub/x.inc")
	writeFile(t, filepath.Join(dir, "sub", "x.inc"), "x")
	t.Chdir(dir)
	lines, _ := lexFile(t, "main.conf", Options{})
	if len(lines) != 2 || lines[0].Pos.File != "main.conf" || lines[1].Pos.File != filepath.Join("sub", "x.inc") {
		t.Errorf("got %+v", lines)
	}
}

func TestLexTopFileErrors(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "exe.conf")
	writeFile(t, exe, "a")
	if err := os.Chmod(exe, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.conf"), dir, "/dev/zero", exe} {
		d := &Diagnostics{}
		if _, err := Lex(path, Options{}, d); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Lex(%s) error = %v, want one naming the file", path, err)
		}
	}
}

// TestLexKeepalivedSamplesCleanly checks that every sample configuration shipped with
// Keepalived lexes with no diagnostic at all.
func TestLexKeepalivedSamplesCleanly(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testenv.SharedDir(t), "samples", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, p := range paths {
		d := &Diagnostics{}
		lines, err := Lex(p, Options{ConfigID: "high"}, d)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if len(lines) == 0 || len(d.List) != 0 {
			t.Errorf("%s: %d lines, diagnostics %q", p, len(lines), messages(d))
		}
	}
}

// TestLexDifferentialDump is the vigil half of the differential check against Keepalived in
// testdata/lexer/differential (see its README): with VIGIL_LEX_DIFF_DIR set, it writes, for each
// *.conf there, the first word of every brace-split piece with its line, the words Keepalived
// names in its "Unknown keyword" reports. Without the variable there is nothing to compare.
func TestLexDifferentialDump(t *testing.T) {
	dir := os.Getenv("VIGIL_LEX_DIFF_DIR")
	if dir == "" {
		t.Skip("VIGIL_LEX_DIFF_DIR not set: differential run only")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "== %s\n", filepath.Base(f))
		d := &Diagnostics{}
		lines, err := Lex(f, Options{ConfigID: "main"}, d)
		if err != nil {
			fmt.Fprintf(&b, "ERR %v\n", err)
		}
		for _, l := range lines {
			for i, w := range l.Words {
				brace := w == "{" || w == "}"
				if i == 0 || brace || l.Words[i-1] == "{" || l.Words[i-1] == "}" {
					fmt.Fprintf(&b, "%d\t%q\n", l.Pos.Line, w)
				}
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "mine.out"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
