package notify

// SecurityAudit gathers, over the scripts one half of vigil will run, what Keepalived's
// SECURITY VIOLATION warning needs: whether any will run without enable_script_security, and
// whether any of them has unsafe permissions. Each half keeps one per configuration it builds
// and says where its first script is written, since Keepalived names no line.
type SecurityAudit struct {
	runs, insecure bool
}

// Check says what r.Check says of s, and notes s in the audit: a script that will run counts,
// and so do unsafe permissions tolerated without enable_script_security.
func (a *SecurityAudit) Check(r *Runner, s Script) (warnings []string, err error) {
	_, err = r.prepare(s, func(w scriptWarning) {
		warnings = append(warnings, w.text)
		a.insecure = a.insecure || w.insecure
	})
	a.runs = a.runs || err == nil && !r.opts.ScriptSecurity
	return warnings, err
}

// Violation is Keepalived's warning, in the words of the process that runs the scripts
// ("scripts" for VRRP, "check scripts" for the checker), or "" when no script checked will
// run without enable_script_security.
func (a *SecurityAudit) Violation(scripts string) string {
	if !a.runs {
		return ""
	}
	msg := "SECURITY VIOLATION - " + scripts + " are being executed but script_security not enabled."
	if a.insecure {
		msg += " There are insecure scripts."
	}
	return msg
}
