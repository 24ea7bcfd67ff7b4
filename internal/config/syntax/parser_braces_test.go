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

// A values block whose '{' is missing takes the lines after it, up to the first '}', as its
// values, as Keepalived's alloc_value_block does; that '}' was the instance's, so the next
// vrrp_instance is read as unknown keywords of this one and its keywords fill this one.
// Keepalived 2.2.7 printed, for this text: "(Line 4) Block virtual_ipaddress has extra
// parameters 192.0.2.1 ...", "(Line 5) VRRP parsed invalid IP priority. skipping IP...",
// "(Line 7) Unknown keyword 'vrrp_instance'", "(Line 7) Unexpected '{' - ignoring", and made
// one instance.
func TestValuesBlockWithoutBraceReadsUpToTheFirstClose(t *testing.T) {
	src := strings.Join([]string{
		"vrrp_instance VI_1 {",
		"  interface eth0",
		"  virtual_router_id 51",
		"  virtual_ipaddress 192.0.2.1", // 4
		"  priority 100",
		"}", // 6
		"vrrp_instance VI_2 {",
		"  interface eth0",
		"  virtual_router_id 52",
		"  virtual_ipaddress {", // 10
		"    192.0.2.2",
		"  }",
		"}",
	}, "\n")
	var values []string
	blocks := 0
	scalar := Keyword{Scalar: func(*Parser, Line) {}}
	top := &Table{Keywords: map[string]Keyword{
		"vrrp_instance": {Block: func(*Parser, Line) *Table {
			blocks++
			return &Table{Keywords: map[string]Keyword{
				"interface": scalar, "virtual_router_id": scalar, "priority": scalar,
				"virtual_ipaddress": {Values: func(*Parser, Line) func(*Parser, Line) {
					return func(_ *Parser, l Line) { values = append(values, fmt.Sprint(l.Pos.Line, l.Words)) }
				}},
			}}
		}},
	}}
	diags := &Diagnostics{}
	Parse(LexBytes("test.conf", []byte(src), Options{ConfigID: "test"}, diags), top, diags)
	var got []string
	for _, d := range diags.List {
		got = append(got, fmt.Sprintf("%d %s", d.Pos.Line, d.Message))
	}
	want := []string{
		"4 Block virtual_ipaddress has extra parameters 192.0.2.1 ...",
		"4 '{' missing from beginning of block virtual_ipaddress: the lines up to the first '}' (line 6) are read as its values, as Keepalived reads them",
		"7 Unknown keyword 'vrrp_instance'",
		"7 Unexpected '{' - ignoring",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("complaints:\n got %q\nwant %q", got, want)
	}
	if blocks != 1 || !slices.Equal(values, []string{"5 [priority 100]", "11 [192.0.2.2]"}) {
		t.Fatalf("%d instances, values %q", blocks, values)
	}
}
