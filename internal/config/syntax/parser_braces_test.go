package syntax

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// instanceTable stands for the keywords of vrrp_instance that the brace test uses: the engine
// knows no keyword, so the shapes matter (scalars, a values block), not what they fill.
func instanceTable() *Table {
	scalar := Keyword{Scalar: func(*Parser, Line) {}}
	return &Table{Keywords: map[string]Keyword{
		"vrrp_instance": {Block: func(*Parser, Line) *Table {
			return &Table{Keywords: map[string]Keyword{
				"state": scalar, "interface": scalar, "virtual_router_id": scalar, "priority": scalar,
				"virtual_ipaddress": {Values: func(*Parser, Line) func(*Parser, Line) {
					return func(*Parser, Line) {}
				}},
			}}
		}},
	}}
}

// Keepalived 2.2.7's brace complaints for this text, as `keepalived -t` printed them (its VRRP
// process's view): a '{' after a scalar keyword is ignored, so the next '}' closes the instance;
// the rest of the block is read at the top level, where '}' is an unknown keyword, and "Extra"
// only once the text has closed more braces than it opened.
func TestBraceComplaintsMatchKeepalived(t *testing.T) {
	src := strings.Join([]string{
		"vrrp_instance VI_1 {", // 1
		"  state BACKUP",
		"  interface eth0",
		"  virtual_router_id 51",
		"  priority 100 {", // 5
		"  }",
		"  virtual_ipaddress", // 7
		"  {",
		"    192.0.2.1/24",
		"  }", // 10
		"}",
		"}", // 12
	}, "\n")
	diags := &Diagnostics{}
	Parse(LexBytes("test.conf", []byte(src), Options{ConfigID: "test"}, diags), instanceTable(), diags)
	var got []string
	for _, d := range diags.List {
		if strings.Contains(d.Message, "'{'") || strings.Contains(d.Message, "'}'") || strings.HasPrefix(d.Message, "Unknown keyword") {
			got = append(got, fmt.Sprintf("%d %s", d.Pos.Line, d.Message))
		}
	}
	want := []string{
		"5 Unexpected '{' - ignoring",
		"7 Unknown keyword 'virtual_ipaddress'",
		"8 Unexpected '{' - ignoring",
		"9 Unknown keyword '192.0.2.1/24'",
		"10 Unknown keyword '}'",
		"11 Unknown keyword '}'",
		"12 Extra '}' found",
		"12 Unknown keyword '}'",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("brace complaints:\n got %q\nwant %q", got, want)
	}
}
