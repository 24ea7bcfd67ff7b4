package notify

import (
	"testing"

	"github.com/vigil-lb/vigil/internal/testenv"
)

func TestSecurityAuditSaysKeepalivedsViolationOnlyForScriptsThatWillRunUnsecured(t *testing.T) {
	const violation = "SECURITY VIOLATION - check scripts are being executed but script_security not enabled."
	tests := []struct {
		name     string
		security bool
		scripts  func(t *testing.T) []string
		want     string
	}{
		{"no script", false, func(*testing.T) []string { return nil }, ""},
		{"a script that will run", false, func(*testing.T) []string { return []string{"/bin/true"} }, violation},
		{"only scripts that cannot run", false, func(*testing.T) []string { return []string{"/nonexistent/vigil.sh"} }, ""},
		{"enable_script_security", true, func(*testing.T) []string { return []string{"/bin/true"} }, ""},
		{"an insecure script among them", false, func(t *testing.T) []string {
			return []string{"/bin/true", testenv.InsecureScript(t)}
		}, violation + " There are insecure scripts."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRunner(RunnerOptions{ScriptSecurity: tc.security})
			var a SecurityAudit
			for _, s := range tc.scripts(t) {
				_, _ = a.Check(r, Script{Command: s})
			}
			if got := a.Violation("check scripts"); got != tc.want {
				t.Fatalf("Violation = %q, want %q", got, tc.want)
			}
		})
	}
}
