package syntax

import (
	"slices"
	"testing"
)

// ${_ENV NAME} (Keepalived 2.4) is the environment variable's value, as in the article's
// "key 1 file:${_ENV CREDENTIALS_DIRECTORY}/vrrp51"; an unset one reads as empty, with a warning.
func TestEnvDefinitionReadsTheEnvironment(t *testing.T) {
	env := map[string]string{"CREDENTIALS_DIRECTORY": "/run/credentials/vigil.service"}
	opts := Options{ConfigID: "test", LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	diags := &Diagnostics{}
	lines := LexBytes("test.conf", []byte("key 1 file:${_ENV CREDENTIALS_DIRECTORY}/vrrp51\nrouter_id x${_ENV NOPE}y\n"), opts, diags)
	if len(lines) != 2 || !slices.Equal(lines[0].Words, []string{"key", "1", "file:/run/credentials/vigil.service/vrrp51"}) ||
		!slices.Equal(lines[1].Words, []string{"router_id", "xy"}) {
		t.Fatalf("lines %v", lines)
	}
	if len(diags.List) != 1 || diags.List[0].Pos.Line != 2 || diags.List[0].Message != "${_ENV NOPE}: environment variable NOPE is not set; it reads as empty" {
		t.Fatalf("diagnostics %v", diags.List)
	}
}
