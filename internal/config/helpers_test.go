package config

import "testing"

// parseString parses src as a configuration file named "test.conf" (includes are relative to the
// working directory), through the real lexer, with config id "test".
func parseString(t *testing.T, src string) (*Config, *Diagnostics) {
	t.Helper()
	diags := &Diagnostics{}
	lines := lexBytes("test.conf", []byte(src), Options{ConfigID: "test"}, diags)
	return Parse(lines, diags), diags
}
