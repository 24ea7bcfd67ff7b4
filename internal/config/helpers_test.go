package config

import (
	"testing"

	"github.com/vigil-lb/vigil/internal/config/syntax"
)

// parseString parses src as a configuration file named "test.conf" (includes are relative to the
// working directory), through the real lexer, with config id "test".
func parseString(t *testing.T, src string) (*Config, *syntax.Diagnostics) {
	t.Helper()
	diags := &syntax.Diagnostics{}
	lines := syntax.LexBytes("test.conf", []byte(src), syntax.Options{ConfigID: "test"}, diags)
	return Parse(lines, diags), diags
}

// vrrpInstanceSrc is configtest.Instance, for this package's own tests.
func vrrpInstanceSrc(body string) string {
	return "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n" + body + "\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n"
}
