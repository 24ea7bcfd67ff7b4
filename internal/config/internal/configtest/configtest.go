package configtest

import (
	"fmt"
	"testing"

	"github.com/vigil-lb/vigil/internal/config"
	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// Parse parses src as a configuration file named "test.conf" (includes are relative to the
// working directory), through the real lexer, with config id "test".
func Parse(t testing.TB, src string) (*config.Config, *syntax.Diagnostics) {
	t.Helper()
	diags := &syntax.Diagnostics{}
	lines := syntax.LexBytes("test.conf", []byte(src), syntax.Options{ConfigID: "test"}, diags)
	return config.Parse(lines, diags), diags
}

// Lines renders diagnostics as "LINE: [E ]message" for compact comparisons.
func Lines(ds *syntax.Diagnostics) []string {
	var out []string
	for _, d := range ds.List {
		sev := ""
		if d.Severity == syntax.Error {
			sev = "E "
		}
		out = append(out, fmt.Sprintf("%d: %s%s", d.Pos.Line, sev, d.Message))
	}
	return out
}

// Messages renders diagnostics as "LINE: message" ("LINE: error: message" for errors), never
// nil, the form the LVS tests compare against.
func Messages(d *syntax.Diagnostics) []string {
	out := []string{}
	for _, x := range d.List {
		if x.Severity == syntax.Error {
			out = append(out, fmt.Sprintf("%d: error: %s", x.Pos.Line, x.Message))
		} else {
			out = append(out, fmt.Sprintf("%d: %s", x.Pos.Line, x.Message))
		}
	}
	return out
}

// Instance wraps the body of a vrrp_instance VI_1 with what it needs to be clean (interface,
// virtual_router_id, one address).
func Instance(body string) string {
	return "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n" + body + "\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n"
}
